//! One typed launcher per kernel family. Launchers check shapes, split work so no binding
//! exceeds the device's binding limit, and fill the kernels' parameter structs.

mod attention;
mod conv;
mod elementwise;
mod image;
mod matmul;
mod moe;
mod norm;
mod reduce;
mod rope;
mod sampler;

pub use attention::{attention, attention_kernel, loop_limited_keys, AttentionArgs, MaskedRows};
pub use conv::{conv2d, Conv2dArgs};
pub use elementwise::{binary, fill, gated_residual, map, swiglu, MapOp};
pub use image::{group_norm, upsample2x};
pub use matmul::{gather_rows, linear, linear_as, matmul, Linear};
pub use moe::{moe_lora, MoeExperts, MoeMode, MoeRouting};
pub use norm::{layer_norm, layer_norm_modulate, rms_norm};
pub use reduce::{argmax, mean_rows, softmax};
pub use rope::{rope_flux, rope_half, RopeFlux};
pub use sampler::{euler_step, timestep_embedding};
pub use x2edit_kernels::{Activation, BinaryOp};

use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::Act;

/// A 2-D view [rows, cols] of a tensor: element offset and row stride (in elements).
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    pub t: &'a Tensor,
    pub off: usize,
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a> Mat<'a> {
    /// The whole tensor as [numel / last_dim, last_dim].
    pub fn of(t: &'a Tensor) -> Mat<'a> {
        let cols = t.shape().last().copied().unwrap_or(1).max(1);
        Mat { t, off: 0, rows: t.numel() / cols, cols, stride: cols }
    }
    pub fn new(t: &'a Tensor, off: usize, rows: usize, cols: usize, stride: usize) -> Mat<'a> {
        Mat { t, off, rows, cols, stride }
    }
    pub fn rows(self, r0: usize, r1: usize) -> Mat<'a> {
        Mat { off: self.off + r0 * self.stride, rows: r1 - r0, ..self }
    }
    pub fn cols(self, c0: usize, c1: usize) -> Mat<'a> {
        Mat { off: self.off + c0, cols: c1 - c0, ..self }
    }
    /// One past the last element touched.
    fn end(&self) -> usize {
        if self.rows == 0 {
            self.off
        } else {
            self.off + (self.rows - 1) * self.stride + self.cols
        }
    }
    fn act(&self, what: &str) -> Result<Act> {
        self.t.dtype().as_act().ok_or_else(|| Error::invalid(what, format!("{:?} is not an activation tensor", self.t.dtype())))
    }
    fn check(&self, what: &str) -> Result<Act> {
        if self.cols > self.stride && self.rows > 1 {
            return Err(Error::invalid(what, format!("{} columns exceed the row stride {}", self.cols, self.stride)));
        }
        if self.end() > self.t.numel() {
            return Err(Error::invalid(what, format!("view ends at element {} of a {:?} tensor", self.end(), self.t.shape())));
        }
        self.act(what)
    }
}

fn elem_bytes(t: &Tensor) -> u64 {
    match t.dtype() {
        DType::F16 => 2,
        _ => 4,
    }
}

/// The binding covering rows [r0, r1) of `m`: starts at an aligned byte offset; returns the
/// binding and the element offset of the view's first element inside it.
fn window<'a>(gpu: &Gpu, m: &Mat<'a>, r0: usize, r1: usize) -> (Bind<'a>, u32) {
    let es = elem_bytes(m.t);
    let start = (m.off + r0 * m.stride) as u64 * es;
    let end = if r1 > r0 { (m.off + (r1 - 1) * m.stride + m.cols) as u64 * es } else { start + es };
    let aligned = start - start % gpu.offset_alignment();
    (Bind { tensor: m.t, offset: aligned, size: end - aligned }, ((start - aligned) / es) as u32)
}

/// Row ranges whose windows (rows of `row_bytes`) fit the binding limit.
fn row_chunks(gpu: &Gpu, what: &str, rows: usize, row_bytes: u64) -> Result<Vec<(usize, usize)>> {
    let limit = gpu.binding_limit().saturating_sub(gpu.offset_alignment());
    if row_bytes > limit {
        return Err(Error::TooLarge { what: format!("{what}: one row"), bytes: row_bytes, limit });
    }
    let per = ((limit / row_bytes.max(1)) as usize).max(1);
    Ok((0..rows).step_by(per).map(|r| (r, (r + per).min(rows))).collect())
}

/// Workgroup grid for `n` invocations in workgroups of `wg`, spread over x and y.
fn grid(gpu: &Gpu, n: usize, wg: usize) -> [u32; 3] {
    let groups = n.div_ceil(wg).max(1) as u64;
    let max = gpu.max_workgroups() as u64;
    let x = groups.min(max);
    [x as u32, groups.div_ceil(x) as u32, 1]
}

fn same_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(Error::shape(what, a, b));
    }
    Ok(())
}
