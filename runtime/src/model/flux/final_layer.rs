//! FLUX final layer: (1 + scale) LN(x) + shift from adaLN(SiLU(vec)), then the projection to
//! latent channels. BFL stores adaLN as (shift, scale), diffusers' norm_out as (scale, shift).

use super::names::{whole, FluxWeights, Part};
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Activation, Linear, Mat};

pub struct FinalLayer {
    shift: Linear,
    scale: Linear,
    linear: Linear,
}

impl FinalLayer {
    pub fn load(fw: &FluxWeights, gpu: &Gpu, h: usize) -> Result<FinalLayer> {
        let half = |bfl: std::ops::Range<usize>, diff: std::ops::Range<usize>| Part {
            bfl: "final_layer.adaLN_modulation.1".into(),
            bfl_rows: Some(bfl),
            diffusers: "norm_out.linear".into(),
            diffusers_rows: Some(diff),
        };
        Ok(FinalLayer {
            shift: fw.linear(gpu, &half(0..h, h..2 * h))?,
            scale: fw.linear(gpu, &half(h..2 * h, 0..h))?,
            linear: fw.linear(gpu, &whole("final_layer.linear", "proj_out"))?,
        })
    }

    /// x: the noise rows (f32 [n, hidden]) -> f32 [n, out_channels].
    pub fn forward(&self, gpu: &Gpu, x: Mat, silu_vec: &Tensor) -> Result<Tensor> {
        let shift = ops::linear_as(gpu, Mat::of(silu_vec), &self.shift, Activation::None, DType::F32)?;
        let scale = ops::linear_as(gpu, Mat::of(silu_vec), &self.scale, Activation::None, DType::F32)?;
        let norm = gpu.alloc(&[x.rows, x.cols], DType::act(gpu.act()))?;
        ops::layer_norm_modulate(gpu, x, Mat::of(&norm), (&scale, 0), (&shift, 0), 1e-6)?;
        ops::linear_as(gpu, Mat::of(&norm), &self.linear, Activation::None, DType::F32)
    }
}
