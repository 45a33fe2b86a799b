//! FLUX's embedders: img_in (also embeds the cond tokens), txt_in, and the conditioning
//! vector time_in(t) + guidance_in(g) + vector_in(pooled), each MLP `Linear, SiLU, Linear`.

use super::names::{whole, FluxWeights};
use super::FluxConfig;
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Activation, BinaryOp, Linear, Mat};
use x2edit_kernels::reference::timestep_freqs;

/// `in_layer` -> SiLU -> `out_layer` (BFL MLPEmbedder / diffusers TimestepEmbedding).
pub struct MlpEmbedder {
    in_layer: Linear,
    out_layer: Linear,
}

impl MlpEmbedder {
    fn load(fw: &FluxWeights, gpu: &Gpu, bfl: &str, diffusers: &str) -> Result<MlpEmbedder> {
        Ok(MlpEmbedder {
            in_layer: fw.linear(gpu, &whole(format!("{bfl}.in_layer"), format!("{diffusers}.linear_1")))?,
            out_layer: fw.linear(gpu, &whole(format!("{bfl}.out_layer"), format!("{diffusers}.linear_2")))?,
        })
    }

    /// f32 [1, k] -> f32 [1, hidden]
    fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<Tensor> {
        let h = ops::linear_as(gpu, Mat::of(x), &self.in_layer, Activation::Silu, DType::F32)?;
        ops::linear_as(gpu, Mat::of(&h), &self.out_layer, Activation::None, DType::F32)
    }
}

pub struct Embedders {
    pub img_in: Linear,
    pub txt_in: Linear,
    time_in: MlpEmbedder,
    vector_in: MlpEmbedder,
    guidance_in: Option<MlpEmbedder>,
    /// Sinusoid frequencies for 256 channels (diffusers' f32 recipe).
    freqs: Tensor,
}

impl Embedders {
    pub fn load(fw: &FluxWeights, gpu: &Gpu, cfg: &FluxConfig) -> Result<Embedders> {
        let freqs = timestep_freqs(128, 10000.0, 0.0);
        Ok(Embedders {
            img_in: fw.linear(gpu, &whole("img_in", "x_embedder"))?,
            txt_in: fw.linear(gpu, &whole("txt_in", "context_embedder"))?,
            time_in: MlpEmbedder::load(fw, gpu, "time_in", "time_text_embed.timestep_embedder")?,
            vector_in: MlpEmbedder::load(fw, gpu, "vector_in", "time_text_embed.text_embedder")?,
            guidance_in: if cfg.guidance_embed {
                Some(MlpEmbedder::load(fw, gpu, "guidance_in", "time_text_embed.guidance_embedder")?)
            } else {
                None
            },
            freqs: gpu.upload_f32(&freqs, &[128])?,
        })
    }

    /// MLP of the sinusoidal embedding of `t` (already times 1000).
    fn embed_time(&self, gpu: &Gpu, mlp: &MlpEmbedder, t: f32) -> Result<Tensor> {
        let e = ops::timestep_embedding(gpu, t, &self.freqs, true)?;
        mlp.forward(gpu, &e.reshape(&[1, 256])?)
    }

    /// The per-edit part of the conditioning vector: vector_in(pooled) (+ guidance_in(g*1000)
    /// for bases that embed guidance).
    pub fn constant(&self, gpu: &Gpu, pooled: &Tensor, guidance: f32) -> Result<Tensor> {
        let v = self.vector_in.forward(gpu, pooled)?;
        let Some(g) = &self.guidance_in else { return Ok(v) };
        let ge = self.embed_time(gpu, g, guidance * 1000.0)?;
        let sum = gpu.alloc(v.shape(), DType::F32)?;
        ops::binary(gpu, Mat::of(&v), Mat::of(&ge), Mat::of(&sum), BinaryOp::Add)?;
        Ok(sum)
    }

    /// SiLU(time_in(sigma*1000) + constant): the input of every modulation layer.
    pub fn silu_vec(&self, gpu: &Gpu, sigma: f32, constant: &Tensor) -> Result<Tensor> {
        let t = self.embed_time(gpu, &self.time_in, sigma * 1000.0)?;
        let sum = gpu.alloc(t.shape(), DType::F32)?;
        ops::binary(gpu, Mat::of(&t), Mat::of(constant), Mat::of(&sum), BinaryOp::Add)?;
        ops::map(gpu, Mat::of(&sum), Mat::of(&t), ops::MapOp::Act(Activation::Silu))?;
        Ok(t)
    }
}
