//! Dry-run memory plan of one DiT step: what the GPU must hold, computed from sizes alone (no
//! device), so the full 57-block model can be planned on any machine and compared with the
//! pool's measured peak on a reduced-depth model of full width.

use super::FluxConfig;
use x2edit_kernels::{layout, WeightFormat};

/// Bytes by category. `total` is the planned peak.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryPlan {
    /// Embedders and final layer (always resident).
    pub resident: u64,
    /// Block weights on the GPU at once: all blocks, or the largest one when streaming.
    pub blocks: u64,
    /// Per-edit constants and the f32 residual streams.
    pub streams: u64,
    /// Peak of one block's activations (q/k/v/attention, MoE temporaries, MLP chunk).
    pub activations: u64,
    pub total: u64,
}

/// What the plan assumes about the weights.
#[derive(Clone, Copy, Debug)]
pub struct PlanWeights {
    /// Block matrices.
    pub blocks: WeightFormat,
    /// Embedders and final layer (kept at source precision by the quantize tool).
    pub resident: WeightFormat,
    /// MoE-LoRA: experts, rank and storage; None without an adapter.
    pub lora: Option<(usize, usize, WeightFormat)>,
}

fn mat(f: WeightFormat, n: usize, k: usize) -> u64 {
    let f = if k.is_multiple_of(f.block_elems()) { f } else { WeightFormat::F32 };
    layout::gpu_bytes(f, n * k) as u64 + 4 * n as u64
}

pub fn plan(c: &FluxConfig, w: PlanWeights, tokens: (usize, usize, usize), act: u64, chunk_rows: usize, stream: bool) -> MemoryPlan {
    let (h, m) = (c.hidden, c.mlp_hidden);
    let (lt, n, nc) = tokens;
    let t = (lt + n + nc) as u64;
    let hb = h as u64;
    let lora_layer = |(e, r, f): (usize, usize, WeightFormat)| (e as u64 + 1) * (mat(f, r, h) + mat(f, h, r)) + 4 * (e * h) as u64;
    let lora = |layers: u64| w.lora.map_or(0, |l| layers * lora_layer(l));
    let double = 2 * (mat(w.blocks, 6 * h, h) + mat(w.blocks, 3 * h, h) + mat(w.blocks, h, h) + mat(w.blocks, m, h) + mat(w.blocks, h, m)) + lora(4);
    let single = mat(w.blocks, 3 * h, h) + mat(w.blocks, 3 * h + m, h) + mat(w.blocks, h, h + m) + lora(3);
    let blocks = if stream { double.max(single) } else { c.depth as u64 * double + c.depth_single as u64 * single };
    let r = w.resident;
    let resident = mat(r, h, c.in_channels) + mat(r, h, c.context_dim) + 2 * (mat(r, h, 256) + mat(r, h, h)) + mat(r, h, c.vec_dim) + mat(r, h, h) + mat(r, 2 * h, h) + mat(r, c.out_channels, h);
    // txt_in(txt), img_in(cond), ids; noise, cond and text (or [txt|noise]) residual streams
    let streams = 4 * (lt + nc) as u64 * hb + 12 * t + 4 * (lt + n + nc) as u64 * hb + 4 * (n as u64) * hb;
    // q, k, v and attention output; MoE: per-slot outputs, lists, mid rows, logits
    let moe = w.lora.map_or(0, |(e, rank, _)| 2 * t * hb * act + (2 * t + 31 * e as u64) * rank as u64 * act + t * (4 * e as u64 + 16));
    let rows = chunk_rows.min((lt + n + nc).max(1)) as u64;
    let mlp = rows * (hb + m as u64) * act + 2 * rows * hb * act;
    let activations = 4 * t * hb * act + moe.max(mlp) + t * hb * act;
    MemoryPlan { resident, blocks, streams, activations, total: resident + blocks + streams + activations }
}
