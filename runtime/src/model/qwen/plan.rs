//! Dry-run memory plan of X2Edit's text encoding: the GPU bytes each buffer of the encoder
//! (and AlignNet) takes at a sequence length, without a device. Sizes follow the code: the
//! pool's size classes, one decoder layer's weights when streaming, the token-chunked MLP, the
//! conv accumulator. `x2edit bench text` prints it and compares it with a measured peak.

use super::mlp::chunk_rows;
use super::QwenConfig;
use x2edit_kernels::{layout, WeightFormat};

/// The GPU pool's size classes (mirrors `gpu::buffer`: at most 1/8 waste above 4 KiB).
pub fn pooled(bytes: u64) -> u64 {
    let b = bytes.max(256);
    if b <= 4096 {
        return b.next_multiple_of(256);
    }
    b.next_multiple_of(b.next_power_of_two() / 8)
}

/// One line of a plan.
#[derive(Clone, Debug)]
pub struct Item {
    pub what: String,
    pub bytes: u64,
}

#[derive(Clone, Debug)]
pub struct TextPlan {
    /// One decoder layer's weights in the GPU layout.
    pub layer_weights: u64,
    /// Weights held for the whole encode (all layers when resident, norms and tables always).
    pub resident_weights: Vec<Item>,
    /// Activation buffers live while a layer runs (they are reused by every layer).
    pub activations: Vec<Item>,
    /// Peak while the encoder runs (streaming: one layer's weights).
    pub peak_encoder: u64,
    /// AlignNet's head after the encoder is released: weights and activations.
    pub align_head: Vec<Item>,
    pub peak_align: u64,
}

/// AlignNet sizes: conv channels, hidden H, output D, pooled P, and its matrices' format.
#[derive(Clone, Copy, Debug)]
pub struct AlignSizes {
    pub channels: usize,
    pub dim: usize,
    pub pooled: usize,
    pub format: WeightFormat,
}

impl AlignSizes {
    /// X2Edit's AlignNet as released (f32 `.bin`): 29 -> 1 conv, 3584 -> 4096 -> 4096, pooled 768.
    pub fn x2edit() -> AlignSizes {
        AlignSizes { channels: 29, dim: 4096, pooled: 768, format: WeightFormat::F32 }
    }
}

fn matrix(f: WeightFormat, n: usize, k: usize) -> u64 {
    pooled(layout::gpu_bytes(f, n * k) as u64)
}

fn item(what: impl Into<String>, bytes: u64) -> Item {
    Item { what: what.into(), bytes }
}

pub fn sum(items: &[Item]) -> u64 {
    items.iter().map(|i| i.bytes).sum()
}

/// Parameters of one decoder layer's matrices (for FLOP counts).
pub fn layer_params(c: &QwenConfig) -> u64 {
    let (h, kv, i) = (c.hidden_size as u64, c.kv_width() as u64, c.intermediate_size as u64);
    2 * h * h + 2 * kv * h + 3 * i * h
}

/// One decoder layer's tensors with every matrix in `f`.
pub fn layer_items(c: &QwenConfig, f: WeightFormat) -> Vec<Item> {
    let (h, kv, i) = (c.hidden_size, c.kv_width(), c.intermediate_size);
    let v = |n: usize| pooled(4 * n as u64);
    vec![
        item("self_attn.q_proj (+ bias)", matrix(f, h, h) + v(h)),
        item("self_attn.k_proj, v_proj (+ biases)", 2 * (matrix(f, kv, h) + v(kv))),
        item("self_attn.o_proj", matrix(f, h, h)),
        item("mlp.gate_proj, up_proj", 2 * matrix(f, i, h)),
        item("mlp.down_proj", matrix(f, h, i)),
        item("input/post_attention_layernorm", 2 * v(h)),
    ]
}

/// The plan for `tokens` tokens, matrices in `f`, activations of `act_bytes` (2 or 4) bytes,
/// streaming one layer at a time or all resident.
pub fn plan(c: &QwenConfig, tokens: usize, f: WeightFormat, act_bytes: usize, streaming: bool, align: AlignSizes) -> TextPlan {
    let (l, h, kv, i) = (tokens, c.hidden_size, c.kv_width(), c.intermediate_size);
    let a = |n: usize| pooled((n * act_bytes) as u64);
    let f32s = |n: usize| pooled(4 * n as u64);
    let layer_weights = sum(&layer_items(c, f));
    let mut resident = vec![item("model.norm, RoPE frequencies", f32s(h) + f32s(c.head_dim / 2))];
    resident.push(item("AlignNet conv (weight, bias)", f32s(align.channels * 25) + f32s(1)));
    if !streaming {
        resident.push(item(format!("{} decoder layers", c.num_hidden_layers), layer_weights * c.num_hidden_layers as u64));
    }
    let step = chunk_rows(i, act_bytes, l);
    let mut mlp = a(step * 2 * i) + a(step * i);
    if l % step != 0 {
        // the last, shorter chunk takes buffers of another size class while the others are cached
        mlp += a((l % step) * 2 * i) + a((l % step) * i);
    }
    let activations = vec![
        item("residual stream (f32)", f32s(l * h)),
        item("positions, key mask", 2 * f32s(l)),
        item("K/V of the running layer", 2 * a(l * kv)),
        item("normed input, q, attention output", 3 * a(l * h)),
        item(format!("MLP chunk of {step} tokens (gate|up, SwiGLU)"), mlp),
        item("final norm output (f32)", f32s(l * h)),
        item("AlignNet conv accumulator (f32)", f32s(l * h)),
    ];
    let peak_encoder = sum(&resident) + sum(&activations) + if streaming { layer_weights } else { 0 };
    let (d, p) = (align.dim, align.pooled);
    let align_head = vec![
        item("AlignNet mlp weights", matrix(align.format, d, h) + matrix(align.format, d, d) + matrix(align.format, p, d) + 2 * f32s(h) + f32s(p)),
        item("conv output, layernorm", f32s(l * h) + a(l * h)),
        item("projector, prompt_embeds, GELU", 3 * a(l * d)),
        item("pooled tokens, pooled", f32s(l * p) + f32s(p)),
    ];
    let peak_align = sum(&align_head);
    TextPlan { layer_weights, resident_weights: resident, activations, peak_encoder, align_head, peak_align }
}

/// Bytes as MiB with one decimal.
pub fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}
