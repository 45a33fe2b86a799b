//! GroupNorm (statistics pass, then apply) and nearest 2x upsample on NCHW tensors that fit
//! one binding.

use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::{Activation, Kernel, Variant};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    channels: u32,
    h: u32,
    w: u32,
    groups: u32,
    flags: u32,
    x_off: u32,
    y_off: u32,
    eps: f32,
}

fn acts(x: &Tensor, y: &Tensor) -> Result<(x2edit_kernels::Act, x2edit_kernels::Act)> {
    let xa = x.dtype().as_act().ok_or_else(|| Error::invalid("image op x", "not an activation"))?;
    let ya = y.dtype().as_act().ok_or_else(|| Error::invalid("image op y", "not an activation"))?;
    Ok((xa, ya))
}

/// y = act(GroupNorm(x) * gamma + beta); x, y [c, h, w]; gamma_beta f32 [2c].
pub fn group_norm(gpu: &Gpu, x: &Tensor, y: &Tensor, chw: [usize; 3], groups: usize, gamma_beta: &Tensor, eps: f32, act: Activation) -> Result<()> {
    let (xa, ya) = acts(x, y)?;
    let [c, h, w] = chw;
    if groups == 0 || c % groups != 0 {
        return Err(Error::invalid("group norm", format!("{c} channels in {groups} groups")));
    }
    super::same_len("group norm x", x.numel(), c * h * w)?;
    super::same_len("group norm y", y.numel(), c * h * w)?;
    super::same_len("group norm affine", gamma_beta.numel(), 2 * c)?;
    let stats = gpu.alloc(&[2 * groups], DType::F32)?;
    let p = Params { channels: c as u32, h: h as u32, w: w as u32, groups: groups as u32, flags: (act as u32) << 8, eps, ..Default::default() };
    gpu.dispatch(Kernel::GroupNormStats, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, Bind::all(x)), (4, Bind::all(&stats))], [groups as u32, 1, 1])?;
    gpu.dispatch(
        Kernel::GroupNormApply,
        Variant::io(xa, ya),
        bytemuck::bytes_of(&p),
        &[(1, Bind::all(x)), (2, Bind::all(gamma_beta)), (3, Bind::all(y)), (4, Bind::all(&stats))],
        super::grid(gpu, c * h * w, 256),
    )
}

/// y [c, 2h, 2w] = nearest upsample of x [c, h, w].
pub fn upsample2x(gpu: &Gpu, x: &Tensor, y: &Tensor, chw: [usize; 3]) -> Result<()> {
    let (xa, ya) = acts(x, y)?;
    let [c, h, w] = chw;
    super::same_len("upsample x", x.numel(), c * h * w)?;
    super::same_len("upsample y", y.numel(), 4 * c * h * w)?;
    let p = Params { channels: c as u32, h: h as u32, w: w as u32, ..Default::default() };
    gpu.dispatch(Kernel::Upsample2x, Variant::io(xa, ya), bytemuck::bytes_of(&p), &[(1, Bind::all(x)), (3, Bind::all(y))], super::grid(gpu, 4 * c * h * w, 256))
}
