//! `model.layers.N.self_attn`: GQA with q/k/v biases, rotate-half RoPE, causal + key-padding
//! mask, fully masked (left-pad) query rows un-masked as transformers' sdpa does on CUDA.

use super::{load_linear, KvSlot, QwenConfig, Rope};
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, AttentionArgs, Linear, Mat};
use crate::weights::Weights;
use super::names::Naming;
use x2edit_kernels::reference::MaskedRows;
use x2edit_kernels::Activation;

pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
}

impl Attention {
    pub fn load(gpu: &Gpu, w: &Weights, n: &Naming, i: usize, c: &QwenConfig) -> Result<Attention> {
        let (h, q, kv) = (c.hidden_size, c.num_attention_heads * c.head_dim, c.kv_width());
        let p = |s: &str| n.layer(i, &format!("self_attn.{s}"));
        Ok(Attention {
            q_proj: load_linear(gpu, w, &p("q_proj.weight"), Some(&p("q_proj.bias")), [q, h])?,
            k_proj: load_linear(gpu, w, &p("k_proj.weight"), Some(&p("k_proj.bias")), [kv, h])?,
            v_proj: load_linear(gpu, w, &p("v_proj.weight"), Some(&p("v_proj.bias")), [kv, h])?,
            // Qwen2 has no o_proj bias; take one if a checkpoint has it.
            o_proj: load_linear(gpu, w, &p("o_proj.weight"), w.has(&p("o_proj.bias")).then(|| p("o_proj.bias")).as_deref(), [h, q])?,
        })
    }

    /// residual += o_proj(attention(h)) for `h` = rows [past, past + n) of the sequence; their
    /// keys and values are written into `kv` at those rows, and the queries see rows [0, past + n).
    /// `key_mask` (U32 [past + n], 0 = padding) hides padded keys.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, gpu: &Gpu, c: &QwenConfig, h: Mat, residual: Mat, rope: &Rope, kv: &KvSlot, past: usize, key_mask: Option<&Tensor>) -> Result<()> {
        let (n, d) = (h.rows, c.head_dim);
        let (heads, kv_heads, kvw) = (c.num_attention_heads, c.num_key_value_heads, c.kv_width());
        let act = DType::act(gpu.act());
        let q = gpu.alloc(&[n, heads * d], act)?;
        ops::matmul(gpu, h, &self.q_proj, Mat::of(&q), Activation::None, false)?;
        let k_new = Mat::of(&kv.k).rows(past, past + n);
        let v_new = Mat::of(&kv.v).rows(past, past + n);
        ops::matmul(gpu, h, &self.k_proj, k_new, Activation::None, false)?;
        ops::matmul(gpu, h, &self.v_proj, v_new, Activation::None, false)?;
        ops::rope_half(gpu, Mat::of(&q), heads, d, &rope.pos, 0, &rope.freqs)?;
        ops::rope_half(gpu, k_new, kv_heads, d, &rope.pos, 0, &rope.freqs)?;
        let out = gpu.alloc(&[n, heads * d], act)?;
        let lk = past + n;
        let mask = key_mask.map(|m| m.reshape(&[lk])).transpose()?;
        ops::attention(
            gpu,
            &AttentionArgs {
                q: Mat::of(&q),
                k: Mat::new(&kv.k, 0, lk, kvw, kvw),
                v: Mat::new(&kv.v, 0, lk, kvw, kvw),
                out: Mat::of(&out),
                heads,
                kv_heads,
                dim: d,
                scale: 1.0 / (d as f32).sqrt(),
                causal: true,
                key_mask: mask.as_ref(),
                masked_rows: MaskedRows::Unmask,
            },
        )?;
        // The residual add is the matmul's accumulate: y = x W^T + y, in f32.
        ops::matmul(gpu, Mat::of(&out), &self.o_proj, residual, Activation::None, true)
    }
}
