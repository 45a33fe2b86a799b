//! Direct conv2d on NCHW (batch 1), chunked over output channels; the input must fit one
//! binding (the VAE tiles larger images).

use super::matmul::flags;
use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::{Activation, Kernel, Variant, WeightFormat};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    oh: u32,
    ow: u32,
    ks: u32,
    stride: u32,
    pad_t: u32,
    pad_l: u32,
    flags: u32,
    x_off: u32,
    y_off: u32,
    w_off: u32,
    w_co_stride: u32,
    co_base: u32,
}

/// x [cin, h, w] at element `x_off` of `x`; weight [cout, cin, ks, ks] (a float format) at
/// element `w_off`, `w_co_stride` elements per output channel (cin*ks*ks unless a slice of a
/// wider kernel); y [cout, oh, ow] at `y_off`. pad = (top, bottom, left, right).
pub struct Conv2dArgs<'a> {
    pub x: &'a Tensor,
    pub x_off: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub weight: &'a Tensor,
    pub w_off: usize,
    pub w_co_stride: usize,
    pub bias: Option<&'a Tensor>,
    pub y: &'a Tensor,
    pub y_off: usize,
    pub cout: usize,
    pub ks: usize,
    pub stride: usize,
    pub pad: [usize; 4],
    pub act: Activation,
    pub accumulate: bool,
}

impl Conv2dArgs<'_> {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + self.pad[0] + self.pad[1]).saturating_sub(self.ks) / self.stride + 1,
            (self.w + self.pad[2] + self.pad[3]).saturating_sub(self.ks) / self.stride + 1,
        )
    }
}

pub fn conv2d(gpu: &Gpu, a: &Conv2dArgs) -> Result<()> {
    let xa = a.x.dtype().as_act().ok_or_else(|| Error::invalid("conv2d x", "not an activation"))?;
    let ya = a.y.dtype().as_act().ok_or_else(|| Error::invalid("conv2d y", "not an activation"))?;
    let wf = match a.weight.dtype() {
        DType::Weight(w) if w.is_float() => w,
        DType::F32 => WeightFormat::F32,
        DType::F16 => WeightFormat::F16,
        d => return Err(Error::Unsupported("conv2d weight".into(), format!("{d:?} (convolutions take float weights)"))),
    };
    if a.ks == 0 || a.stride == 0 || a.h + a.pad[0] + a.pad[1] < a.ks || a.w + a.pad[2] + a.pad[3] < a.ks {
        return Err(Error::invalid("conv2d", format!("kernel {} stride {} on {}x{} with pads {:?}", a.ks, a.stride, a.h, a.w, a.pad)));
    }
    let (oh, ow) = a.out_hw();
    if a.x_off + a.cin * a.h * a.w > a.x.numel() {
        return Err(Error::shape("conv2d x", [a.cin, a.h, a.w], a.x.shape()));
    }
    if a.y_off + a.cout * oh * ow > a.y.numel() {
        return Err(Error::shape("conv2d y", [a.cout, oh, ow], a.y.shape()));
    }
    if a.w_off + (a.cout - 1) * a.w_co_stride + a.cin * a.ks * a.ks > a.weight.numel() {
        return Err(Error::shape("conv2d weight", [a.cout, a.cin, a.ks, a.ks], a.weight.shape()));
    }
    let es = |t: &Tensor| super::elem_bytes(t);
    let x_bytes = (a.cin * a.h * a.w) as u64 * es(a.x);
    let align = gpu.offset_alignment();
    let limit = gpu.binding_limit() - align;
    if x_bytes > limit {
        return Err(Error::TooLarge { what: "conv2d input (tile the image)".into(), bytes: x_bytes, limit });
    }
    let xs = a.x_off as u64 * es(a.x);
    let xb = Bind { tensor: a.x, offset: xs - xs % align, size: x_bytes + xs % align };
    let plane = (oh * ow) as u64 * es(a.y);
    let per = ((limit / plane.max(1)) as usize / 4 * 4).max(4);
    if plane * 4 > limit {
        return Err(Error::TooLarge { what: "conv2d output plane (tile the image)".into(), bytes: plane * 4, limit });
    }
    let bias = a.bias.unwrap_or(gpu.dummy());
    for co0 in (0..a.cout).step_by(per) {
        let co1 = (co0 + per).min(a.cout);
        let ys = (a.y_off + co0 * oh * ow) as u64 * es(a.y);
        let yb = Bind { tensor: a.y, offset: ys - ys % align, size: (co1 - co0) as u64 * plane + ys % align };
        let p = Params {
            cin: a.cin as u32,
            h: a.h as u32,
            w: a.w as u32,
            cout: (co1 - co0) as u32,
            oh: oh as u32,
            ow: ow as u32,
            ks: a.ks as u32,
            stride: a.stride as u32,
            pad_t: a.pad[0] as u32,
            pad_l: a.pad[2] as u32,
            flags: flags(a.bias.is_some(), a.accumulate, a.act),
            x_off: ((xs % align) / es(a.x)) as u32,
            y_off: ((ys % align) / es(a.y)) as u32,
            w_off: a.w_off as u32,
            w_co_stride: a.w_co_stride as u32,
            co_base: co0 as u32,
        };
        let (kernel, groups) = if gpu.has_subgroup() {
            // 32 pixels x 256 channels per workgroup; pixel tiles spread over y and z.
            let tiles = (oh * ow).div_ceil(32) as u32;
            let ty = tiles.min(32768);
            (Kernel::Conv2dSubgroup, [(co1 - co0).div_ceil(256) as u32, ty, tiles.div_ceil(ty)])
        } else {
            (Kernel::Conv2d, [ow.div_ceil(64) as u32, oh.div_ceil(4) as u32, (co1 - co0).div_ceil(4) as u32])
        };
        let binds = [(1, xb), (2, Bind::all(a.weight)), (3, Bind::all(bias)), (4, yb)];
        gpu.dispatch(kernel, Variant::io(xa, ya).with_weight(wf), bytemuck::bytes_of(&p), &binds, groups)?;
    }
    Ok(())
}
