//! RoPE launchers, in place on one head set (q or k) of a [tokens, ...] view.

use super::{grid, row_chunks, window, Mat};
use crate::error::{Error, Result};
use crate::gpu::{Bind, Gpu, Tensor};
use x2edit_kernels::{Kernel, Variant};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    rows: u32,
    heads: u32,
    dim: u32,
    flags: u32,
    off: u32,
    stride: u32,
    axis1: u32,
    axis2: u32,
    eps: f32,
    pos_off: u32,
    ns_off: u32,
    _p0: u32,
}

/// FLUX RoPE arguments: ids f32 [tokens, 3] (row `pos_off` belongs to the view's first
/// row), frequencies from `reference::rope_flux_freqs`, optional QK-norm (scale [dim], eps).
pub struct RopeFlux<'a> {
    pub ids: &'a Tensor,
    pub pos_off: usize,
    pub freqs: &'a Tensor,
    pub axis1: u32,
    pub axis2: u32,
    pub rotate: bool,
    pub norm: Option<(&'a Tensor, f32)>,
}

fn launch(gpu: &Gpu, kernel: Kernel, x: Mat, heads: usize, dim: usize, p0: Params, pos: &Tensor, freqs: &Tensor, ns: &Tensor) -> Result<()> {
    let a = x.check("rope x")?;
    if heads * dim > x.cols {
        return Err(Error::shape("rope heads", x.cols, heads * dim));
    }
    let per = if kernel == Kernel::RopeHalf { heads * dim / 2 } else { heads };
    for (r0, r1) in row_chunks(gpu, "rope", x.rows, x.stride as u64 * super::elem_bytes(x.t))? {
        let (xb, off) = window(gpu, &x, r0, r1);
        let p = Params { rows: (r1 - r0) as u32, heads: heads as u32, dim: dim as u32, off, stride: x.stride as u32, pos_off: p0.pos_off + r0 as u32, ..p0 };
        gpu.dispatch(kernel, Variant::new(a), bytemuck::bytes_of(&p), &[(1, xb), (2, Bind::all(pos)), (3, Bind::all(freqs)), (4, Bind::all(ns))], grid(gpu, (r1 - r0) * per, 64))?;
    }
    Ok(())
}

/// FLUX QK-norm and/or 3-axis RoPE on x [tokens, heads * dim], in place.
pub fn rope_flux(gpu: &Gpu, x: Mat, heads: usize, dim: usize, args: &RopeFlux) -> Result<()> {
    let dummy = gpu.dummy();
    let (ns, eps) = args.norm.unwrap_or((dummy, 0.0));
    let p = Params {
        flags: args.norm.is_some() as u32 | (args.rotate as u32) << 1,
        axis1: args.axis1,
        axis2: args.axis2,
        eps,
        pos_off: args.pos_off as u32,
        ..Default::default()
    };
    launch(gpu, Kernel::RopeFlux, x, heads, dim, p, args.ids, args.freqs, ns)
}

/// Rotate-half RoPE on x [tokens, heads * dim], positions f32 [tokens] (from `pos_off`).
pub fn rope_half(gpu: &Gpu, x: Mat, heads: usize, dim: usize, pos: &Tensor, pos_off: usize, freqs: &Tensor) -> Result<()> {
    let p = Params { pos_off: pos_off as u32, ..Default::default() };
    launch(gpu, Kernel::RopeHalf, x, heads, dim, p, pos, freqs, gpu.dummy())
}
