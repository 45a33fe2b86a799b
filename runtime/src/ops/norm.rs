//! RMSNorm, LayerNorm and FLUX's modulated LayerNorm over rows (one workgroup per row).

use super::{grid, row_chunks, window, Mat};
use crate::error::Result;
use crate::gpu::{Bind, Gpu, Tensor};
use x2edit_kernels::{Kernel, Variant};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    rows: u32,
    width: u32,
    flags: u32,
    eps: f32,
    x_off: u32,
    x_stride: u32,
    y_off: u32,
    y_stride: u32,
    w_off: u32,
    b_off: u32,
    _p: [u32; 2],
}

/// An f32 vector argument: a tensor and an element offset into it.
type Vector<'a> = Option<(&'a Tensor, usize)>;

fn launch(gpu: &Gpu, kernel: Kernel, x: Mat, y: Mat, w: Vector, b: Vector, eps: f32) -> Result<()> {
    let xa = x.check("norm x")?;
    let ya = y.check("norm y")?;
    super::same_len("norm rows", x.rows, y.rows)?;
    super::same_len("norm width", x.cols, y.cols)?;
    let es = |m: &Mat| super::elem_bytes(m.t);
    let row_max = (x.stride as u64 * es(&x)).max(y.stride as u64 * es(&y));
    let dummy = gpu.dummy();
    let (wt, w_off) = w.unwrap_or((dummy, 0));
    let (bt, b_off) = b.unwrap_or((dummy, 0));
    for (r0, r1) in row_chunks(gpu, "norm", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let (yb, y_off) = window(gpu, &y, r0, r1);
        let p = Params {
            rows: (r1 - r0) as u32,
            width: x.cols as u32,
            flags: w.is_some() as u32 | (b.is_some() as u32) << 1,
            eps,
            x_off,
            x_stride: x.stride as u32,
            y_off,
            y_stride: y.stride as u32,
            w_off: w_off as u32,
            b_off: b_off as u32,
            _p: [0; 2],
        };
        gpu.dispatch(kernel, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, xb), (2, Bind::all(wt)), (3, Bind::all(bt)), (4, yb)], grid(gpu, r1 - r0, 1))?;
    }
    Ok(())
}

/// y = x / rms(x) * weight.
pub fn rms_norm(gpu: &Gpu, x: Mat, y: Mat, weight: Option<&Tensor>, eps: f32) -> Result<()> {
    launch(gpu, Kernel::RmsNorm, x, y, weight.map(|w| (w, 0)), None, eps)
}

/// y = LN(x) (* weight + bias when given).
pub fn layer_norm(gpu: &Gpu, x: Mat, y: Mat, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f32) -> Result<()> {
    launch(gpu, Kernel::LayerNorm, x, y, weight.map(|w| (w, 0)), bias.map(|b| (b, 0)), eps)
}

/// y = (1 + scale) * LN(x) + shift; scale and shift are f32 vectors at element offsets
/// (slices of a modulation output).
pub fn layer_norm_modulate(gpu: &Gpu, x: Mat, y: Mat, scale: (&Tensor, usize), shift: (&Tensor, usize), eps: f32) -> Result<()> {
    launch(gpu, Kernel::LayerNormModulate, x, y, Some(scale), Some(shift), eps)
}
