//! y = act(x W^T + b) for any weight format, chunked over rows and weight rows so no binding
//! exceeds the device limit.

use super::{row_chunks, window, Mat};
use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::{layout, Activation, Kernel, Variant, WeightFormat, MATMUL_SG_TILE, MATMUL_TILE};

/// A linear layer on the GPU: weight [n, k] in any format, optional f32 bias [n].
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub n: usize,
    pub k: usize,
}

impl Linear {
    pub fn format(&self) -> Result<WeightFormat> {
        match self.weight.dtype() {
            DType::Weight(w) => Ok(w),
            DType::F32 => Ok(WeightFormat::F32),
            DType::F16 => Ok(WeightFormat::F16),
            d => Err(Error::invalid("linear weight", format!("{d:?} is not a weight type"))),
        }
    }

    /// Bytes of one weight row in the GPU layout.
    pub fn row_bytes(&self) -> Result<u64> {
        let f = self.format()?;
        if !self.k.is_multiple_of(f.block_elems()) {
            return Err(Error::invalid("linear weight", format!("k = {} is not a multiple of the {} block", self.k, f.name())));
        }
        Ok(match f {
            WeightFormat::F32 => 4 * self.k as u64,
            WeightFormat::F16 | WeightFormat::BF16 => 2 * self.k as u64,
            q => (self.k / q.block_elems() * layout::gpu_block_bytes(q)) as u64,
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Params {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub flags: u32,
    pub x_off: u32,
    pub x_stride: u32,
    pub y_off: u32,
    pub y_stride: u32,
    pub w_row0: u32,
    pub b_off: u32,
    pub n_experts: u32,
    pub gather: u32,
}

pub(super) fn flags(bias: bool, accumulate: bool, act: Activation) -> u32 {
    bias as u32 | (accumulate as u32) << 1 | (act as u32) << 8
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// y (a [m, n] view) = act(x W^T + b) (+ y when `accumulate`); x is an [m, k] view.
pub fn matmul(gpu: &Gpu, x: Mat, w: &Linear, y: Mat, act: Activation, accumulate: bool) -> Result<()> {
    matmul_rows(gpu, x, w, 0..w.n, y, act, accumulate)
}

/// As `matmul` with only weight rows `rows` (y has rows.len() columns; the bias is indexed
/// by weight row). Used to run one expert of a stacked expert matrix.
pub(super) fn matmul_rows(gpu: &Gpu, x: Mat, w: &Linear, rows: std::ops::Range<usize>, y: Mat, act: Activation, accumulate: bool) -> Result<()> {
    let xa = x.check("matmul x")?;
    let ya = y.check("matmul y")?;
    let n = rows.len();
    if x.cols != w.k || y.rows != x.rows || y.cols != n || rows.end > w.n {
        return Err(Error::shape(
            "matmul",
            format!("x [m, {}] -> y [{}, {}] (weight rows {:?} of {})", w.k, x.rows, n, rows, w.n),
            format!("x [{}, {}], y [{}, {}]", x.rows, x.cols, y.rows, y.cols),
        ));
    }
    if x.rows == 0 || n == 0 {
        return Ok(());
    }
    let fmt = w.format()?;
    let row_bytes = w.row_bytes()?;
    let variant = Variant::io(xa, ya).with_weight(fmt);
    let limit = gpu.binding_limit();
    // The whole weight in one binding when it fits; otherwise chunks that start on rows
    // whose byte offset is binding-aligned.
    let whole = w.weight.byte_len() <= limit;
    let align = gpu.offset_alignment();
    let step = (align / gcd(row_bytes, align)) as usize;
    let per_n = if whole { n } else { (limit / row_bytes) as usize / step * step };
    if per_n == 0 || (!whole && !rows.start.is_multiple_of(step)) {
        return Err(Error::TooLarge { what: "matmul weight rows".into(), bytes: row_bytes * step as u64, limit });
    }
    let es = |t: &Tensor| if t.dtype() == DType::F16 { 2u64 } else { 4 };
    let row_max = (x.stride as u64 * es(x.t)).max(y.stride as u64 * es(y.t));
    let bias = w.bias.as_ref().unwrap_or(gpu.dummy());
    for (r0, r1) in row_chunks(gpu, "matmul activations", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let (yb, y_off) = window(gpu, &y, r0, r1);
        for n0 in (0..n).step_by(per_n) {
            let n1 = (n0 + per_n).min(n);
            let first = rows.start + n0;
            let (wb, w_row0) = if whole {
                (Bind::all(&w.weight), first as u32)
            } else {
                (Bind { tensor: &w.weight, offset: first as u64 * row_bytes, size: (n1 - n0) as u64 * row_bytes }, 0)
            };
            let p = Params {
                m: (r1 - r0) as u32,
                n: (n1 - n0) as u32,
                k: w.k as u32,
                flags: flags(w.bias.is_some(), accumulate, act),
                x_off,
                x_stride: x.stride as u32,
                y_off: y_off + n0 as u32,
                y_stride: y.stride as u32,
                w_row0,
                b_off: first as u32,
                n_experts: 0,
                gather: 0,
            };
            let (kernel, (tm, tn)) = if gpu.has_subgroup() {
                (Kernel::MatmulSubgroup, MATMUL_SG_TILE)
            } else {
                (Kernel::Matmul, (MATMUL_TILE, MATMUL_TILE))
            };
            let groups = [(n1 - n0).div_ceil(tn as usize) as u32, (r1 - r0).div_ceil(tm as usize) as u32, 1];
            gpu.dispatch(kernel, variant, bytemuck::bytes_of(&p), &[(1, xb), (2, wb), (3, Bind::all(bias)), (4, yb)], groups)?;
        }
    }
    Ok(())
}

/// x [rows, k] -> new [rows, n] tensor in the GPU's activation precision.
pub fn linear(gpu: &Gpu, x: Mat, w: &Linear, act: Activation) -> Result<Tensor> {
    linear_as(gpu, x, w, act, DType::act(gpu.act()))
}

/// As `linear` with an explicit output type (F32 for conditioning vectors and outputs).
pub fn linear_as(gpu: &Gpu, x: Mat, w: &Linear, act: Activation, dtype: DType) -> Result<Tensor> {
    let y = gpu.alloc(&[x.rows, w.n], dtype)?;
    matmul(gpu, x, w, Mat::of(&y), act, false)?;
    Ok(y)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    rows: u32,
    k: u32,
    y_off: u32,
    y_stride: u32,
}

/// y[r, :] = W[ids[r], :] for a weight table of any format (token embeddings); ids U32.
pub fn gather_rows(gpu: &Gpu, ids: &Tensor, table: &Linear, y: Mat) -> Result<()> {
    let ya = y.check("gather y")?;
    if y.rows != ids.numel() || y.cols != table.k {
        return Err(Error::shape("gather", [ids.numel(), table.k], [y.rows, y.cols]));
    }
    let row_bytes = table.row_bytes()?;
    if table.weight.byte_len() > gpu.binding_limit() {
        // Vocabulary tables beyond one binding are split by rows at load (see model code).
        return Err(Error::TooLarge { what: "embedding table".into(), bytes: table.n as u64 * row_bytes, limit: gpu.binding_limit() });
    }
    let (yb, y_off) = window(gpu, &y, 0, y.rows);
    let p = GatherParams { rows: y.rows as u32, k: table.k as u32, y_off, y_stride: y.stride as u32 };
    let chunks = table.k.div_ceil(32) * y.rows;
    gpu.dispatch(
        Kernel::GatherRows,
        Variant::new(ya).with_weight(table.format()?),
        bytemuck::bytes_of(&p),
        &[(1, Bind::all(ids)), (2, Bind::all(&table.weight)), (3, yb)],
        super::grid(gpu, chunks, 64),
    )
}
