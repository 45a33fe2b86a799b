//! Greedy decoding with a KV cache (the task router): prefill the prompt once, then one token
//! per step through every layer; logits only for the last row, through lm_head's row chunks.

use super::{KvSlot, Qwen2Model, Residency};
use crate::error::{Error, Result};
use crate::gpu::{DType, Tensor};
use crate::ops::{self, Linear, Mat};
use crate::text::Encoded;
use x2edit_kernels::Activation;

/// Generated ids (a stop id, when reached, included) and the logits of the first generated
/// position (f32 [vocab]).
#[derive(Clone, Debug)]
pub struct Generation {
    pub ids: Vec<u32>,
    pub first_logits: Vec<f32>,
}

impl Qwen2Model {
    /// Greedy (argmax, first index on ties, like torch) continuation of `prompt`: at most
    /// `max_new` tokens, stopping after any id in `stop`.
    pub async fn generate_greedy_async(&self, prompt: &Encoded, max_new: usize, stop: &[u32]) -> Result<Generation> {
        let c = &self.config;
        let n = prompt.ids.len();
        if n == 0 || prompt.mask.len() != n {
            return Err(Error::invalid("generate", "an empty prompt or a mask of another length"));
        }
        let cap = n + max_new;
        let kv: Vec<KvSlot> = (0..c.num_hidden_layers).map(|_| KvSlot::new(&self.gpu, c, cap)).collect::<Result<_>>()?;
        let mask = self.key_mask(prompt, cap)?;
        // Resident lm_head unless streaming (then it is uploaded chunk by chunk each step).
        let head = match self.residency {
            Residency::Resident => Some(self.lm_head()?),
            Residency::Streaming => None,
        };
        let mut out = Generation { ids: Vec::new(), first_logits: Vec::new() };
        let x = self.embed(&prompt.ids)?;
        let last = self.run(&x, &prompt.positions(), &kv, 0, mask.as_ref(), &mut |_, _| Ok(()))?;
        let mut last_row = Mat::of(&last).rows(n - 1, n);
        let mut owned;
        for step in 0..max_new {
            let logits = self.logits(last_row, head.as_deref())?;
            if step == 0 {
                out.first_logits = self.gpu.read_f32_async(&logits).await?;
            }
            let next = *self.gpu.read_u32_async(&ops::argmax(&self.gpu, Mat::of(&logits))?).await?.first().ok_or_else(|| Error::Gpu("argmax read back nothing".into()))?;
            out.ids.push(next);
            if stop.contains(&next) || step + 1 == max_new {
                break;
            }
            let x = self.embed(&[next])?;
            // Text-only positions continue after the real tokens (HF's rope_deltas).
            let position = (prompt.real_tokens() + step) as f32;
            owned = self.run(&x, &[position], &kv, n + step, mask.as_ref(), &mut |_, _| Ok(()))?;
            last_row = Mat::of(&owned);
        }
        Ok(out)
    }

    /// Blocking `generate_greedy_async` (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn generate_greedy(&self, prompt: &Encoded, max_new: usize, stop: &[u32]) -> Result<Generation> {
        pollster::block_on(self.generate_greedy_async(prompt, max_new, stop))
    }

    /// f32 [1, vocab] logits of one normed row; without a resident head, each chunk is
    /// uploaded, used and dropped in turn.
    fn logits(&self, row: Mat, head: Option<&[(usize, Linear)]>) -> Result<Tensor> {
        let logits = self.gpu.alloc(&[1, self.config.vocab_size], DType::F32)?;
        let out = |r0: usize, w: &Linear| ops::matmul(&self.gpu, row, w, Mat::of(&logits).cols(r0, r0 + w.n), Activation::None, false);
        match head {
            Some(chunks) => chunks.iter().try_for_each(|(r0, w)| out(*r0, w))?,
            None => {
                for rows in self.lm_head_ranges() {
                    out(rows.start, &self.lm_head_chunk(rows)?)?;
                }
            }
        }
        Ok(logits)
    }
}
