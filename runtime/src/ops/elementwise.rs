//! Element-wise launchers over [rows, cols] views: map (copy/cast/activation/affine), binary
//! ops with row broadcast, the f32 gated residual, SwiGLU and fill.

use super::{grid, row_chunks, window, Mat};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Gpu, Tensor};
use x2edit_kernels::{Act, Activation, BinaryOp, Kernel, Variant};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    rows: u32,
    cols: u32,
    op: u32,
    word: u32,
    x_off: u32,
    x_stride: u32,
    y_off: u32,
    y_stride: u32,
    b_off: u32,
    b_stride: u32,
    a: f32,
    b: f32,
}

/// What `map` computes per element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MapOp {
    Copy,
    Act(Activation),
    /// a * x + b
    Affine(f32, f32),
}

fn es(t: &Tensor) -> u64 {
    super::elem_bytes(t)
}

/// y = op(x), elementwise over equal-shaped views (also copy/cast/slice/concat).
pub fn map(gpu: &Gpu, x: Mat, y: Mat, op: MapOp) -> Result<()> {
    let xa = x.check("map x")?;
    let ya = y.check("map y")?;
    super::same_len("map rows", x.rows, y.rows)?;
    super::same_len("map cols", x.cols, y.cols)?;
    let (code, a, b) = match op {
        MapOp::Copy => (0, 0.0, 0.0),
        MapOp::Act(act) => (act as u32, 0.0, 0.0),
        MapOp::Affine(a, b) => (16, a, b),
    };
    let row_max = (x.stride as u64 * es(x.t)).max(y.stride as u64 * es(y.t));
    for (r0, r1) in row_chunks(gpu, "map", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let (yb, y_off) = window(gpu, &y, r0, r1);
        let p = Params { rows: (r1 - r0) as u32, cols: x.cols as u32, op: code, x_off, x_stride: x.stride as u32, y_off, y_stride: y.stride as u32, a, b, ..Default::default() };
        gpu.dispatch(Kernel::Map, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, xb), (3, yb)], grid(gpu, (r1 - r0) * x.cols, 256))?;
    }
    Ok(())
}

/// y = a op b; `b` is either shaped like `a` or a single row broadcast over a's rows.
pub fn binary(gpu: &Gpu, a: Mat, b: Mat, y: Mat, op: BinaryOp) -> Result<()> {
    let aa = a.check("binary a")?;
    let ba = b.check("binary b")?;
    let ya = y.check("binary y")?;
    if aa != ba {
        return Err(Error::invalid("binary", "both inputs must have the same precision"));
    }
    super::same_len("binary cols", a.cols, b.cols)?;
    super::same_len("binary rows", a.rows, y.rows)?;
    let broadcast = b.rows == 1 && a.rows != 1;
    if !broadcast {
        super::same_len("binary b rows", a.rows, b.rows)?;
    }
    let row_max = (a.stride as u64 * es(a.t)).max(y.stride as u64 * es(y.t)).max(b.stride as u64 * es(b.t));
    for (r0, r1) in row_chunks(gpu, "binary", a.rows, row_max)? {
        let (xb, x_off) = window(gpu, &a, r0, r1);
        let (yb, y_off) = window(gpu, &y, r0, r1);
        let (bb, b_off) = if broadcast { window(gpu, &b, 0, 1) } else { window(gpu, &b, r0, r1) };
        let p = Params {
            rows: (r1 - r0) as u32,
            cols: a.cols as u32,
            op: op as u32,
            x_off,
            x_stride: a.stride as u32,
            y_off,
            y_stride: y.stride as u32,
            b_off,
            b_stride: if broadcast { 0 } else { b.stride as u32 },
            ..Default::default()
        };
        gpu.dispatch(Kernel::Binary, Variant::io(aa, ya), bytemuck::bytes_of(&p), &[(1, xb), (2, bb), (3, yb)], grid(gpu, (r1 - r0) * a.cols, 256))?;
    }
    Ok(())
}

/// r += gate * x (gate: f32 [cols] tensor at element offset `gate_off`; None = plain add);
/// r is an f32 view (the residual stream).
pub fn gated_residual(gpu: &Gpu, r: Mat, x: Mat, gate: Option<(&Tensor, usize)>) -> Result<()> {
    if r.check("residual")? != Act::F32 {
        return Err(Error::invalid("residual", "the residual stream is f32"));
    }
    let xa = x.check("gated residual x")?;
    super::same_len("residual rows", r.rows, x.rows)?;
    super::same_len("residual cols", r.cols, x.cols)?;
    let row_max = (x.stride as u64 * es(x.t)).max(r.stride as u64 * 4);
    let dummy = gpu.dummy();
    let (g, g_off) = gate.unwrap_or((dummy, 0));
    for (r0, r1) in row_chunks(gpu, "gated residual", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let (rb, y_off) = window(gpu, &r, r0, r1);
        let p = Params {
            rows: (r1 - r0) as u32,
            cols: x.cols as u32,
            op: gate.is_some() as u32,
            x_off,
            x_stride: x.stride as u32,
            y_off,
            y_stride: r.stride as u32,
            b_off: g_off as u32,
            ..Default::default()
        };
        gpu.dispatch(Kernel::GatedResidual, Variant::io(xa, Act::F32), bytemuck::bytes_of(&p), &[(1, xb), (4, rb), (5, Bind::all(g))], grid(gpu, (r1 - r0) * x.cols, 256))?;
    }
    Ok(())
}

/// y[r, c] = silu(x[r, c]) * x[r, cols + c]; x is [rows, 2 * cols].
pub fn swiglu(gpu: &Gpu, x: Mat, y: Mat) -> Result<()> {
    let xa = x.check("swiglu x")?;
    let ya = y.check("swiglu y")?;
    super::same_len("swiglu rows", x.rows, y.rows)?;
    super::same_len("swiglu cols", x.cols, 2 * y.cols)?;
    let row_max = (x.stride as u64 * es(x.t)).max(y.stride as u64 * es(y.t));
    for (r0, r1) in row_chunks(gpu, "swiglu", x.rows, row_max)? {
        let (xb, x_off) = window(gpu, &x, r0, r1);
        let (yb, y_off) = window(gpu, &y, r0, r1);
        let p = Params { rows: (r1 - r0) as u32, cols: y.cols as u32, x_off, x_stride: x.stride as u32, y_off, y_stride: y.stride as u32, ..Default::default() };
        gpu.dispatch(Kernel::SwiGlu, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, xb), (3, yb)], grid(gpu, (r1 - r0) * y.cols, 256))?;
    }
    Ok(())
}

/// Sets every 32-bit word of `t` to `word`.
pub fn fill(gpu: &Gpu, t: &Tensor, word: u32) -> Result<()> {
    let words = (t.byte_len() / 4) as usize;
    let per = (gpu.binding_limit() / 4) as usize;
    let per = per - per % (gpu.offset_alignment() as usize / 4).max(1);
    for w0 in (0..words).step_by(per.max(1)) {
        let w1 = (w0 + per).min(words);
        let p = Params { rows: 1, cols: (w1 - w0) as u32, word, ..Default::default() };
        let b = Bind { tensor: t, offset: w0 as u64 * 4, size: (w1 - w0) as u64 * 4 };
        gpu.dispatch(Kernel::Fill, Variant::new(Act::F32), bytemuck::bytes_of(&p), &[(6, b)], grid(gpu, w1 - w0, 256))?;
    }
    Ok(())
}
