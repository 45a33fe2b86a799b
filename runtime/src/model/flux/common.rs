//! Pieces shared by the FLUX blocks: modulation, the modulated MLP, QK-norm + RoPE, and the
//! per-step / per-edit context the blocks read.

use super::FluxConfig;
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::model::adapter::MoeLora;
use crate::ops::{self, Activation, Linear, Mat, MoeMode, RopeFlux};

/// RoPE inputs for the joint sequence [txt | noise | cond].
pub struct Rope {
    pub ids: Tensor,
    pub freqs: Tensor,
    pub axis1: u32,
    pub axis2: u32,
}

/// Values fixed for an edit, computed once and reused by every step: per-block modulation of
/// the cond stream (t = 0) and the task part of every MoE gate.
#[derive(Default)]
pub struct EditCache {
    pub cond_mods: Vec<Option<Tensor>>,
    pub task_logits: Vec<Option<Tensor>>,
}

impl EditCache {
    pub fn new(blocks: usize, moe_layers: usize) -> EditCache {
        EditCache { cond_mods: (0..blocks).map(|_| None).collect(), task_logits: (0..moe_layers).map(|_| None).collect() }
    }
}

/// What a block needs besides its weights.
pub struct Step<'a> {
    pub cfg: &'a FluxConfig,
    /// SiLU of the conditioning vector at this step's t, f32 [1, hidden].
    pub vec: &'a Tensor,
    /// SiLU of the conditioning vector at t = 0 (the cond stream's), f32 [1, hidden].
    pub cond_vec: &'a Tensor,
    pub rope: &'a Rope,
    pub moe: MoeMode,
    pub task: Option<&'a [f32]>,
    /// Token counts: text, noise, cond.
    pub lt: usize,
    pub n: usize,
    pub nc: usize,
    /// Rows per chunk of the MLP path (bounds the [rows, mlp_hidden] activation).
    pub chunk: usize,
}

/// lin(SiLU(vec)) as f32 [1, k*hidden]; `cached` keeps it for the rest of the edit.
pub fn modulation(gpu: &Gpu, lin: &Linear, silu_vec: &Tensor, cached: Option<&mut Option<Tensor>>) -> Result<Tensor> {
    if let Some(Some(t)) = cached.as_deref() {
        return Ok(t.clone());
    }
    let m = ops::linear_as(gpu, Mat::of(silu_vec), lin, Activation::None, DType::F32)?;
    if let Some(slot) = cached {
        *slot = Some(m.clone());
    }
    Ok(m)
}

/// Chunk i of a modulation vector as an f32 vector argument.
pub fn chunk(m: &Tensor, i: usize, hidden: usize) -> (&Tensor, usize) {
    (m, i * hidden)
}

/// res += gate * W2(GELU_tanh(W0((1 + scale) LN(res) + shift))), in row chunks.
/// `mods` holds (shift, scale, gate) at chunk indices `idx`.
pub fn modulated_mlp(gpu: &Gpu, res: Mat, mods: &Tensor, idx: [usize; 3], w0: &Linear, w2: &Linear, rows_per: usize) -> Result<()> {
    let h = res.cols;
    let act = DType::act(gpu.act());
    for r0 in (0..res.rows).step_by(rows_per.max(1)) {
        let r1 = (r0 + rows_per).min(res.rows);
        let part = res.rows(r0, r1);
        let norm = gpu.alloc(&[r1 - r0, h], act)?;
        ops::layer_norm_modulate(gpu, part, Mat::of(&norm), chunk(mods, idx[1], h), chunk(mods, idx[0], h), 1e-6)?;
        let hid = ops::linear(gpu, Mat::of(&norm), w0, Activation::GeluTanh)?;
        let out = ops::linear(gpu, Mat::of(&hid), w2, Activation::None)?;
        ops::gated_residual(gpu, part, Mat::of(&out), Some(chunk(mods, idx[2], h)))?;
    }
    Ok(())
}

/// QK-norm with `scale` then RoPE on rows [r0, r1) of a [tokens, heads*dim] buffer.
pub fn qk_norm_rope(gpu: &Gpu, x: &Tensor, r0: usize, r1: usize, scale: &Tensor, st: &Step) -> Result<()> {
    let args = RopeFlux {
        ids: &st.rope.ids,
        pos_off: r0,
        freqs: &st.rope.freqs,
        axis1: st.rope.axis1,
        axis2: st.rope.axis2,
        rotate: true,
        norm: Some((scale, 1e-6)),
    };
    ops::rope_flux(gpu, Mat::of(x).rows(r0, r1), st.cfg.heads, st.cfg.head_dim, &args)
}

/// y += MoE-LoRA(x) when the layer exists, with the task logits cached per edit.
pub fn moe(gpu: &Gpu, layer: Option<&MoeLora>, logits: &mut Option<Tensor>, x: Mat, y: Mat, st: &Step) -> Result<()> {
    let (Some(l), Some(task)) = (layer, st.task) else { return Ok(()) };
    if logits.is_none() {
        *logits = Some(l.task_logits(gpu, task)?);
    }
    match logits {
        Some(t) => l.apply(gpu, x, t, y, st.moe),
        None => Ok(()),
    }
}

/// Full-sequence attention over the joint q/k/v buffers (no mask: cond and noise see each other).
pub fn joint_attention(gpu: &Gpu, q: &Tensor, k: &Tensor, v: &Tensor, out: &Tensor, cfg: &FluxConfig) -> Result<()> {
    ops::attention(
        gpu,
        &ops::AttentionArgs {
            q: Mat::of(q),
            k: Mat::of(k),
            v: Mat::of(v),
            out: Mat::of(out),
            heads: cfg.heads,
            kv_heads: cfg.heads,
            dim: cfg.head_dim,
            scale: 1.0 / (cfg.head_dim as f32).sqrt(),
            causal: false,
            key_mask: None,
            masked_rows: ops::MaskedRows::Unmask,
        },
    )
}
