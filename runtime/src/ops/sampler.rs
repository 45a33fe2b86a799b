//! The Euler step of the flow sampler and the sinusoidal timestep embedding.

use crate::error::{Error, Result};
use crate::gpu::{Bind, DType, Gpu, Tensor};
use x2edit_kernels::{Act, Kernel, Variant};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Default)]
struct Params {
    n: u32,
    half_dim: u32,
    flags: u32,
    _p0: u32,
    dt: f32,
    t: f32,
    _p: [f32; 2],
}

/// x (f32 latent) <- x + (sigma_next - sigma) * v.
pub fn euler_step(gpu: &Gpu, x: &Tensor, v: &Tensor, sigma: f32, sigma_next: f32) -> Result<()> {
    if x.dtype() != DType::F32 {
        return Err(Error::invalid("euler step", "the latent is f32"));
    }
    super::same_len("euler step", x.numel(), v.numel())?;
    let va = v.dtype().as_act().ok_or_else(|| Error::invalid("euler step", "velocity is not an activation"))?;
    let p = Params { n: x.numel() as u32, dt: sigma_next - sigma, ..Default::default() };
    gpu.dispatch(Kernel::EulerStep, Variant::io(va, Act::F32), bytemuck::bytes_of(&p), &[(1, Bind::all(x)), (2, Bind::all(v))], super::grid(gpu, x.numel(), 256))
}

/// [cos(t f), sin(t f)] (sin first when !flip) for f = `freqs` (f32 [half]); returns an f32
/// [2 * half] tensor.
pub fn timestep_embedding(gpu: &Gpu, t: f32, freqs: &Tensor, flip: bool) -> Result<Tensor> {
    let half = freqs.numel();
    let y = gpu.alloc(&[2 * half], DType::F32)?;
    let p = Params { half_dim: half as u32, flags: flip as u32, t, ..Default::default() };
    gpu.dispatch(Kernel::TimestepEmbedding, Variant::new(Act::F32), bytemuck::bytes_of(&p), &[(3, Bind::all(freqs)), (4, Bind::all(&y))], [half.div_ceil(64) as u32, 1, 1])?;
    Ok(y)
}
