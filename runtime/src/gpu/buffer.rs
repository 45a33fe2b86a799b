//! GPU tensors and the buffer pool: activation buffers are recycled by size class as soon as
//! their last handle drops (GPU work stays ordered, so reuse inside a batch is safe); the pool
//! counts live and cached bytes and keeps the peak, which is the memory figure we report.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use x2edit_kernels::{layout, Act, WeightFormat};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    U32,
    /// A weight matrix in the GPU block layout of `kernels-wgsl::layout`.
    Weight(WeightFormat),
}

impl DType {
    pub fn act(a: Act) -> DType {
        match a {
            Act::F32 => DType::F32,
            Act::F16 => DType::F16,
        }
    }
    pub fn as_act(self) -> Option<Act> {
        match self {
            DType::F32 => Some(Act::F32),
            DType::F16 => Some(Act::F16),
            _ => None,
        }
    }
    /// Bytes of `elems` elements (whole blocks for weights).
    pub fn bytes_for(self, elems: usize) -> u64 {
        match self {
            DType::F32 | DType::U32 => 4 * elems as u64,
            DType::F16 => 2 * elems as u64,
            DType::Weight(w) => layout::gpu_bytes(w, elems) as u64,
        }
    }
}

/// Bytes of GPU memory held by the pool: in live tensors, cached for reuse, and the peak of
/// their sum since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub live: u64,
    pub cached: u64,
    pub peak: u64,
}

/// A typed view of a GPU buffer. Clones share the buffer.
#[derive(Clone)]
pub struct Tensor {
    buf: Arc<Buf>,
    shape: Vec<usize>,
    dtype: DType,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.dtype, self.shape)
    }
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// Bytes of the data (the buffer may be larger).
    pub fn byte_len(&self) -> u64 {
        self.dtype.bytes_for(self.numel()).next_multiple_of(4)
    }
    /// The same buffer seen with another shape of no more elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n > self.numel() {
            return Err(Error::shape("reshape", &self.shape, shape));
        }
        Ok(Tensor { buf: self.buf.clone(), shape: shape.to_vec(), dtype: self.dtype })
    }
    /// Whether both tensors view the same GPU buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
    pub(super) fn buffer(&self) -> &wgpu::Buffer {
        &self.buf.buffer
    }
    pub(super) fn capacity(&self) -> u64 {
        self.buf.size
    }
}

struct Buf {
    buffer: wgpu::Buffer,
    size: u64,
    pooled: bool,
    pool: Arc<Pool>,
}

impl Drop for Buf {
    fn drop(&mut self) {
        self.pool.release(&self.buffer, self.size, self.pooled);
    }
}

pub(super) struct Pool {
    device: wgpu::Device,
    max_buffer: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: MemoryStats,
}

/// Size classes with at most 1/8 waste above 4 KiB.
fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    if b <= 4096 {
        return b.next_multiple_of(256);
    }
    let step = b.next_power_of_two() / 8;
    b.next_multiple_of(step)
}

impl Pool {
    pub fn new(device: wgpu::Device, max_buffer: u64) -> Pool {
        Pool { device, max_buffer, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| Error::Gpu("buffer pool lock poisoned".into()))
    }

    pub fn alloc(self: &Arc<Self>, shape: &[usize], dtype: DType, pooled: bool) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.alloc_bytes(shape, dtype, dtype.bytes_for(n), pooled)
    }

    pub fn alloc_bytes(self: &Arc<Self>, shape: &[usize], dtype: DType, bytes: u64, pooled: bool) -> Result<Tensor> {
        let size = if pooled { size_class(bytes) } else { bytes.max(16).next_multiple_of(16) };
        if size > self.max_buffer {
            return Err(Error::TooLarge { what: format!("tensor {shape:?} {dtype:?}"), bytes, limit: self.max_buffer });
        }
        let mut st = self.lock()?;
        let reused = if pooled { st.free.get_mut(&size).and_then(|v| v.pop()) } else { None };
        let buffer = match reused {
            Some(b) => {
                st.stats.cached -= size;
                b
            }
            None => self.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        };
        st.stats.live += size;
        st.stats.peak = st.stats.peak.max(st.stats.live + st.stats.cached);
        drop(st);
        Ok(Tensor { buf: Arc::new(Buf { buffer, size, pooled, pool: self.clone() }), shape: shape.to_vec(), dtype })
    }

    fn release(&self, buffer: &wgpu::Buffer, size: u64, pooled: bool) {
        if let Ok(mut st) = self.state.lock() {
            st.stats.live -= size;
            // Unpooled buffers are just dropped (not destroyed): wgpu keeps them alive until
            // recorded work that uses them has run.
            if pooled {
                st.stats.cached += size;
                st.free.entry(size).or_default().push(buffer.clone());
            }
        }
    }

    pub fn stats(&self) -> MemoryStats {
        self.state.lock().map(|s| s.stats).unwrap_or_default()
    }

    pub fn reset_peak(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.stats.peak = s.stats.live + s.stats.cached;
        }
    }

    pub fn trim(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.free.clear();
            s.stats.cached = 0;
        }
    }
}

pub(super) fn bytes_to_f32(b: &[u8], dtype: DType) -> Vec<f32> {
    match dtype {
        DType::F16 => b.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
    }
}
