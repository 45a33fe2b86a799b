//! `model.layers.N`: pre-norm attention and MLP blocks around the f32 residual stream.

use super::attention::Attention;
use super::mlp::Mlp;
use super::names::Naming;
use super::{KvSlot, QwenConfig, Rope};
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Mat};
use crate::weights::Weights;

pub struct DecoderLayer {
    pub input_layernorm: Tensor,
    pub self_attn: Attention,
    pub post_attention_layernorm: Tensor,
    pub mlp: Mlp,
}

impl DecoderLayer {
    pub fn load(gpu: &Gpu, w: &Weights, n: &Naming, i: usize, c: &QwenConfig) -> Result<DecoderLayer> {
        let norm = |s: &str| -> Result<Tensor> {
            let name = n.layer(i, s);
            w.expect_shape(&name, &[c.hidden_size])?;
            w.vector(gpu, &name)
        };
        Ok(DecoderLayer {
            input_layernorm: norm("input_layernorm.weight")?,
            self_attn: Attention::load(gpu, w, n, i, c)?,
            post_attention_layernorm: norm("post_attention_layernorm.weight")?,
            mlp: Mlp::load(gpu, w, n, i, c)?,
        })
    }

    /// x (f32 [n, hidden], rows [past, past + n) of the sequence) becomes the layer's output.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, gpu: &Gpu, c: &QwenConfig, x: &Tensor, rope: &Rope, kv: &KvSlot, past: usize, key_mask: Option<&Tensor>) -> Result<()> {
        let h = gpu.alloc(x.shape(), DType::act(gpu.act()))?;
        ops::rms_norm(gpu, Mat::of(x), Mat::of(&h), Some(&self.input_layernorm), c.rms_norm_eps)?;
        self.self_attn.forward(gpu, c, Mat::of(&h), Mat::of(x), rope, kv, past, key_mask)?;
        ops::rms_norm(gpu, Mat::of(x), Mat::of(&h), Some(&self.post_attention_layernorm), c.rms_norm_eps)?;
        self.mlp.forward(gpu, Mat::of(&h), Mat::of(x))
    }
}
