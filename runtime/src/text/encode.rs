//! X2Edit's text path end to end: Qwen2.5 hidden states with AlignNet's conv accumulated as
//! each one appears (the stack is never on the GPU), then AlignNet's head, which can run after
//! the encoder has been released.

use super::Encoded;
use crate::error::Result;
use crate::gpu::{Gpu, Tensor};
use crate::model::alignnet::{AlignOutput, Conv, Mlp3};
use crate::model::qwen::Qwen2Model;

/// The conv output (f32 [L, H]) and, when kept, the hidden states read back as the
/// reference stacks them ([layers + 1, L, H], f32).
pub struct Hidden {
    pub conv: Tensor,
    pub states: Option<Vec<f32>>,
}

pub async fn encode_hidden_async(qwen: &Qwen2Model, conv: &Conv, enc: &Encoded, keep_states: bool) -> Result<Hidden> {
    let gpu = qwen.gpu();
    let (l, h) = (enc.ids.len(), qwen.config.hidden_size);
    let mut acc = conv.start(gpu, l, h)?;
    // Copies are recorded as each state appears (its buffer is reused) and read after the pass.
    let mut copies = Vec::new();
    qwen.hidden_states(enc, |_, t| {
        conv.accumulate(gpu, &mut acc, t)?;
        if keep_states {
            copies.push(gpu.start_read(t)?);
        }
        Ok(())
    })?;
    let states = if keep_states {
        let mut s = Vec::with_capacity((qwen.config.num_hidden_layers + 1) * l * h);
        for c in copies {
            s.extend(c.f32(gpu).await?);
        }
        Some(s)
    } else {
        None
    };
    Ok(Hidden { conv: acc.out, states })
}

/// prompt_embeds [L, D] and pooled [P] on the CPU.
pub async fn align_head_async(gpu: &Gpu, mlp: &Mlp3, conv_out: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    let AlignOutput { prompt_embeds, pooled } = mlp.forward(gpu, conv_out)?;
    Ok((gpu.read_f32_async(&prompt_embeds).await?, gpu.read_f32_async(&pooled).await?))
}

/// Blocking `encode_hidden_async` (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn encode_hidden(qwen: &Qwen2Model, conv: &Conv, enc: &Encoded, keep_states: bool) -> Result<Hidden> {
    pollster::block_on(encode_hidden_async(qwen, conv, enc, keep_states))
}

/// Blocking `align_head_async` (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn align_head(gpu: &Gpu, mlp: &Mlp3, conv_out: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    pollster::block_on(align_head_async(gpu, mlp, conv_out))
}
