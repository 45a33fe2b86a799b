//! The GPU layer: device creation with the adapter's real limits, buffers with reuse and
//! memory accounting, a pipeline cache keyed by (kernel, variant), uniform kernel parameters,
//! batching of dispatches into few submits, and readback. Only this module touches wgpu.

mod batch;
mod buffer;
mod device;
mod pipeline;

pub use buffer::{DType, MemoryStats, Tensor};
pub use device::{AdapterSummary, BackendChoice, GpuOptions, Precision};

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};
use x2edit_kernels::{Act, Kernel, Variant};

/// A GPU device with its queue, caches and pending work. Cheap to clone; usable from several
/// threads (dispatches from different threads interleave in one ordered queue).
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<Inner>,
}

struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: AdapterSummary,
    limits: wgpu::Limits,
    binding_limit: u64,
    f16: bool,
    subgroup: bool,
    precision: Precision,
    poison: bool,
    pipelines: pipeline::Cache,
    pool: Arc<buffer::Pool>,
    batch: Mutex<batch::Batch>,
    errors: Arc<Mutex<Vec<String>>>,
    dummy: Tensor,
}

/// One buffer binding of a dispatch: a byte range of a tensor's buffer.
#[derive(Clone, Copy)]
pub struct Bind<'a> {
    pub tensor: &'a Tensor,
    pub offset: u64,
    pub size: u64,
}

impl<'a> Bind<'a> {
    /// The whole tensor.
    pub fn all(tensor: &'a Tensor) -> Bind<'a> {
        Bind { tensor, offset: 0, size: tensor.byte_len() }
    }
}

impl Gpu {
    /// Creates a device (blocking; native only). See [`GpuOptions::from_env`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(opts: GpuOptions) -> Result<Gpu> {
        pollster::block_on(Gpu::new_async(opts))
    }

    pub async fn new_async(opts: GpuOptions) -> Result<Gpu> {
        let d = device::open(&opts).await?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        d.device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let pool = Arc::new(buffer::Pool::new(d.device.clone(), d.limits.max_buffer_size));
        let batch = batch::Batch::new(d.limits.min_uniform_buffer_offset_alignment as u64);
        let dummy = pool.alloc(&[64], DType::U32, false)?;
        Ok(Gpu {
            inner: Arc::new(Inner {
                device: d.device,
                queue: d.queue,
                adapter: d.adapter,
                binding_limit: d.binding_limit,
                limits: d.limits,
                f16: d.f16,
                subgroup: d.subgroup,
                precision: d.precision,
                poison: opts.poison,
                pipelines: pipeline::Cache::default(),
                pool,
                batch: Mutex::new(batch),
                errors,
                dummy,
            }),
        })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.inner.adapter
    }
    pub fn precision(&self) -> Precision {
        self.inner.precision
    }
    /// Activation storage type of the chosen precision.
    pub fn act(&self) -> Act {
        match self.inner.precision {
            Precision::F32 => Act::F32,
            Precision::F16 => Act::F16,
        }
    }
    pub fn has_f16(&self) -> bool {
        self.inner.f16
    }
    /// Whether the subgroup kernels run here (subgroups of >= 8 lanes, not forced portable).
    pub fn has_subgroup(&self) -> bool {
        self.inner.subgroup
    }
    /// Largest storage binding, in bytes (the adapter's limit, or a smaller forced one).
    pub fn binding_limit(&self) -> u64 {
        self.inner.binding_limit
    }
    pub fn max_buffer_size(&self) -> u64 {
        self.inner.limits.max_buffer_size
    }
    /// Binding offsets must be multiples of this.
    pub fn offset_alignment(&self) -> u64 {
        self.inner.limits.min_storage_buffer_offset_alignment as u64
    }
    pub fn max_workgroups(&self) -> u32 {
        self.inner.limits.max_compute_workgroups_per_dimension
    }
    pub fn memory(&self) -> MemoryStats {
        self.inner.pool.stats()
    }
    pub fn reset_peak(&self) {
        self.inner.pool.reset_peak();
    }
    /// Frees cached (unused) buffers.
    pub fn trim(&self) {
        self.inner.pool.trim();
    }

    /// A new activation tensor (contents undefined; NaN-poisoned when the options ask).
    pub fn alloc(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.inner.pool.alloc(shape, dtype, true)?;
        if self.inner.poison {
            self.fill_u32(&t, 0xffff_ffff)?;
        }
        Ok(t)
    }

    /// A tensor holding `bytes` (inputs, small per-step data); pooled like activations.
    pub fn upload(&self, bytes: &[u8], shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.inner.pool.alloc_bytes(shape, dtype, bytes.len() as u64, true)?;
        self.write(&t, 0, bytes);
        Ok(t)
    }

    /// A weight matrix: never pooled, so a released model or streamed block gives its memory
    /// back instead of parking it in the cache (where a streamed double block's weights sat
    /// beside the single blocks that followed: 866 MiB measured against a 585 MiB plan).
    pub fn upload_weights(&self, bytes: &[u8], shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.inner.pool.alloc_bytes(shape, dtype, bytes.len() as u64, false)?;
        self.write(&t, 0, bytes);
        Ok(t)
    }

    pub fn upload_f32(&self, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        self.upload(bytemuck::cast_slice(data), shape, DType::F32)
    }

    pub fn upload_u32(&self, data: &[u32], shape: &[usize]) -> Result<Tensor> {
        self.upload(bytemuck::cast_slice(data), shape, DType::U32)
    }

    /// f32 data stored as `dtype` (F32 or F16).
    pub fn upload_act(&self, data: &[f32], shape: &[usize], dtype: DType) -> Result<Tensor> {
        match dtype {
            DType::F16 => {
                let h: Vec<u16> = data.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
                self.upload(bytemuck::cast_slice(&h), shape, DType::F16)
            }
            _ => self.upload_f32(data, shape),
        }
    }

    /// Writes bytes into a tensor at a byte offset, after every dispatch recorded so far and
    /// before any recorded later. (A queue write lands before the next submit, so pending
    /// work is submitted first: a pooled buffer may still be read by recorded dispatches.)
    pub fn write(&self, t: &Tensor, offset: u64, bytes: &[u8]) {
        if let Ok(mut b) = self.inner.batch.lock() {
            if b.len() > 0 {
                b.submit(&self.inner.queue);
            }
        }
        let mut padded;
        let data = if bytes.len().is_multiple_of(4) {
            bytes
        } else {
            padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            &padded
        };
        self.inner.queue.write_buffer(t.buffer(), offset, data);
    }

    /// Records one kernel launch. `binds` pairs WGSL binding numbers (1..) with buffer ranges;
    /// `params` is the kernel's uniform struct (binding 0).
    pub fn dispatch(&self, kernel: Kernel, variant: Variant, params: &[u8], binds: &[(u32, Bind)], groups: [u32; 3]) -> Result<()> {
        if variant.needs_f16() && !self.inner.f16 {
            return Err(Error::Unsupported(format!("{kernel:?}"), "f16 variant without SHADER_F16".into()));
        }
        if kernel.family().needs_subgroups() && !self.inner.subgroup {
            return Err(Error::Unsupported(format!("{kernel:?}"), format!("subgroup kernel without subgroups of {} lanes", x2edit_kernels::MIN_SUBGROUP)));
        }
        let max = self.max_workgroups();
        if groups.iter().any(|&g| g > max) {
            return Err(Error::invalid(format!("{kernel:?} dispatch"), format!("{groups:?} workgroups exceed {max} per dimension")));
        }
        for (b, bind) in binds {
            if bind.size > self.inner.binding_limit {
                return Err(Error::TooLarge {
                    what: format!("{kernel:?} binding {b}"),
                    bytes: bind.size,
                    limit: self.inner.binding_limit,
                });
            }
        }
        let pipeline = self.inner.pipelines.get(&self.inner.device, kernel, variant)?;
        // A buffer written by a dispatch may not be bound to it twice (WebGPU usage rules).
        let used: Vec<(u32, bool, &Bind)> =
            binds.iter().filter_map(|(b, bind)| pipeline.bindings.iter().find(|(u, _)| u == b).map(|(_, w)| (*b, *w, bind))).collect();
        for (i, (b1, w1, x)) in used.iter().enumerate() {
            for (b2, w2, y) in &used[i + 1..] {
                if (*w1 || *w2) && x.tensor.same_buffer(y.tensor) {
                    return Err(Error::invalid(format!("{kernel:?}"), format!("bindings {b1} and {b2} share a buffer that the kernel writes (no in-place use)")));
                }
            }
        }
        let mut batch = self.inner.batch.lock().map_err(|_| Error::Gpu("batch lock poisoned".into()))?;
        batch.record(&self.inner.device, &self.inner.queue, &pipeline, params, binds, groups);
        if batch.len() >= batch::MAX_DISPATCHES {
            batch.submit(&self.inner.queue);
        }
        Ok(())
    }

    /// Submits recorded work.
    pub fn flush(&self) -> Result<()> {
        if let Ok(mut b) = self.inner.batch.lock() {
            b.submit(&self.inner.queue);
        }
        self.check_errors()
    }

    /// Waits until the GPU has finished all submitted work (blocking; native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn sync(&self) -> Result<()> {
        self.flush()?;
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(e.to_string()))?;
        self.check_errors()
    }

    /// Waits until the GPU has finished all submitted work, yielding to the browser's event loop
    /// on the web (where a blocking wait would never end: the browser completes the work only
    /// once control returns to it).
    pub async fn sync_async(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        return self.sync();
        #[cfg(target_arch = "wasm32")]
        {
            self.flush()?;
            let (tx, rx) = futures_channel();
            self.inner.queue.on_submitted_work_done(move || tx.send(()));
            rx.recv().await.map_err(Error::Gpu)?;
            self.check_errors()
        }
    }

    fn check_errors(&self) -> Result<()> {
        let mut e = self.inner.errors.lock().map_err(|_| Error::Gpu("error lock poisoned".into()))?;
        if e.is_empty() {
            Ok(())
        } else {
            Err(Error::Gpu(std::mem::take(&mut *e).join("; ")))
        }
    }

    /// Fills a tensor's bytes with a repeated word (zeroing, poisoning, list init).
    pub fn fill_u32(&self, t: &Tensor, word: u32) -> Result<()> {
        crate::ops::fill(self, t, word)
    }

    /// Copies a tensor's bytes back (flushes and waits).
    pub async fn read_bytes_async(&self, t: &Tensor) -> Result<Vec<u8>> {
        self.start_read(t)?.bytes(self).await
    }

    /// Records a copy of a tensor's current contents for a later `Readback::bytes` (the tensor
    /// may be overwritten meanwhile): reads inside a synchronous callback, awaited after it.
    pub fn start_read(&self, t: &Tensor) -> Result<Readback> {
        self.flush()?;
        let size = t.byte_len().next_multiple_of(4);
        let staging = self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.inner.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(t.buffer(), 0, &staging, 0, size);
        self.inner.queue.submit([enc.finish()]);
        Ok(Readback { staging, len: t.byte_len() as usize, dtype: t.dtype(), numel: t.numel() })
    }

    async fn map_readback(&self, r: Readback) -> Result<Vec<u8>> {
        let Readback { staging, len, .. } = r;
        let (tx, rx) = futures_channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(e.to_string()))?;
        rx.recv().await.map_err(Error::Gpu)?.map_err(|e| Error::Gpu(format!("readback: {e}")))?;
        self.check_errors()?;
        let view = staging.slice(..).get_mapped_range().map_err(|e| Error::Gpu(format!("readback: {e}")))?;
        let mut out = view.to_vec();
        drop(view);
        staging.unmap();
        out.truncate(len);
        Ok(out)
    }

    /// Reads an F32 or F16 tensor as f32.
    pub async fn read_f32_async(&self, t: &Tensor) -> Result<Vec<f32>> {
        self.start_read(t)?.f32(self).await
    }

    pub async fn read_u32_async(&self, t: &Tensor) -> Result<Vec<u32>> {
        let b = self.read_bytes_async(t).await?;
        Ok(bytemuck::pod_collect_to_vec(&b))
    }

    // Blocking wrappers for native callers (CLI, C ABI, tests); the web has only the async forms.

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_bytes(&self, t: &Tensor) -> Result<Vec<u8>> {
        pollster::block_on(self.read_bytes_async(t))
    }

    /// Reads an F32 or F16 tensor as f32.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32(&self, t: &Tensor) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32_async(t))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        pollster::block_on(self.read_u32_async(t))
    }

    /// A small buffer bound where a kernel declares an input the launch does not use.
    pub(crate) fn dummy(&self) -> &Tensor {
        &self.inner.dummy
    }
}

/// A copy of a tensor in a mappable buffer, recorded by `Gpu::start_read`.
pub struct Readback {
    staging: wgpu::Buffer,
    len: usize,
    dtype: DType,
    numel: usize,
}

impl Readback {
    /// The bytes, once the GPU has made the copy.
    pub async fn bytes(self, gpu: &Gpu) -> Result<Vec<u8>> {
        gpu.map_readback(self).await
    }

    /// An F32 or F16 tensor's values as f32.
    pub async fn f32(self, gpu: &Gpu) -> Result<Vec<f32>> {
        let (dtype, numel) = (self.dtype, self.numel);
        let b = gpu.map_readback(self).await?;
        let mut v = buffer::bytes_to_f32(&b, dtype);
        v.truncate(numel);
        Ok(v)
    }
}

/// A one-shot channel whose receiver is a future woken by the map_async callback.
fn futures_channel<T: Send + 'static>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, waker: None }));
    (Sender(slot.clone()), Receiver(slot))
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<std::task::Waker>,
}
struct Sender<T>(Arc<Mutex<Slot<T>>>);
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

impl<T> Sender<T> {
    fn send(self, v: T) {
        if let Ok(mut s) = self.0.lock() {
            s.value = Some(v);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> Receiver<T> {
    async fn recv(self) -> std::result::Result<T, String> {
        std::future::poll_fn(|cx| match self.0.lock() {
            Ok(mut s) => match s.value.take() {
                Some(v) => std::task::Poll::Ready(Ok(v)),
                None => {
                    s.waker = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            },
            Err(_) => std::task::Poll::Ready(Err("readback lock poisoned".to_string())),
        })
        .await
    }
}
