//! `x2edit bench text`: the Qwen2.5-VL-7B-shaped text encoder (full width 3584, a few layers,
//! 512 tokens, streaming one layer's weights at a time) with AlignNet's conv accumulated, as
//! X2Edit's text stage runs it: time per layer and peak GPU memory; then the dry-run memory
//! plan of the full 28-layer model, and the plan of the benched stack beside its measured peak.
//! Weights are synthetic (valid blocks of random rows, tiled) in an in-memory GGUF, so the
//! real loading path runs: file -> repack -> upload per layer.

use super::{header, time_runs};
use crate::GpuArgs;
use std::time::Instant;
use x2edit_kernels::WeightFormat;
use x2edit_quantize::{codec, Checkpoint, GgmlType, Metadata, TensorInfo, Value};
use x2edit_runtime::model::alignnet::Conv;
use x2edit_runtime::model::qwen::plan::{self, mib, AlignSizes};
use x2edit_runtime::model::qwen::{QwenConfig, Qwen2Model, Residency};
use x2edit_runtime::text::{self, Encoded};
use x2edit_runtime::{Gpu, Weights};

#[derive(clap::Args)]
pub struct TextBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Decoder layers in the benched stack (the full model has 28).
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    /// Sequence length (X2Edit pads every prompt to 512).
    #[arg(long, default_value_t = 512)]
    pub tokens: usize,
    /// Storage type of the layer matrices: q4_k, q8_0, f16, ...
    #[arg(long, default_value = "q4_k")]
    pub format: String,
    /// Print the memory plans only (no device work).
    #[arg(long)]
    pub dry_run: bool,
}

struct Rng(u64);
impl Rng {
    fn f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// One tensor of the synthetic file: name, type, PyTorch shape.
fn tensor(name: String, ty: GgmlType, shape: &[usize]) -> TensorInfo {
    TensorInfo { name, ty, shape: shape.to_vec() }
}

/// A qwen2vl GGUF with `c`'s sizes and every layer matrix in `ty`, in memory.
fn synthetic_gguf(c: &QwenConfig, ty: GgmlType) -> Result<Vec<u8>, String> {
    let (h, kv, f) = (c.hidden_size, c.kv_width(), c.intermediate_size);
    let mut md = Metadata::new();
    md.set("general.architecture", Value::String("qwen2vl".into()));
    for (k, v) in [("embedding_length", h), ("block_count", c.num_hidden_layers), ("feed_forward_length", f), ("attention.head_count", c.num_attention_heads), ("attention.head_count_kv", c.num_key_value_heads), ("context_length", 32768)] {
        md.set(format!("qwen2vl.{k}"), Value::U32(v as u32));
    }
    md.set("qwen2vl.attention.layer_norm_rms_epsilon", Value::F32(c.rms_norm_eps));
    md.set("qwen2vl.rope.freq_base", Value::F32(c.rope_theta as f32));
    let mut infos = vec![tensor("token_embd.weight".into(), GgmlType::F16, &[c.vocab_size, h])];
    for i in 0..c.num_hidden_layers {
        let b = |s: &str| format!("blk.{i}.{s}");
        infos.push(tensor(b("attn_norm.weight"), GgmlType::F32, &[h]));
        for (s, n) in [("attn_q", h), ("attn_k", kv), ("attn_v", kv)] {
            infos.push(tensor(b(&format!("{s}.weight")), ty, &[n, h]));
            infos.push(tensor(b(&format!("{s}.bias")), GgmlType::F32, &[n]));
        }
        infos.push(tensor(b("attn_output.weight"), ty, &[h, h]));
        infos.push(tensor(b("ffn_norm.weight"), GgmlType::F32, &[h]));
        infos.push(tensor(b("ffn_gate.weight"), ty, &[f, h]));
        infos.push(tensor(b("ffn_up.weight"), ty, &[f, h]));
        infos.push(tensor(b("ffn_down.weight"), ty, &[h, f]));
    }
    infos.push(tensor("output_norm.weight".into(), GgmlType::F32, &[h]));
    let err = |e: x2edit_quantize::FormatError| e.to_string();
    let mut w = x2edit_quantize::gguf::writer::GgufWriter::new(Vec::new(), "synthetic", &md, infos.clone()).map_err(err)?;
    let mut rng = Rng(0x5eed_1234_abcd);
    for t in &infos {
        let (n, k) = (t.shape[0], t.shape.get(1).copied().unwrap_or(1));
        let rows = if t.shape.len() == 1 { 1 } else { n };
        let cols = if t.shape.len() == 1 { n } else { k };
        // 16 random rows (N(0,1)/sqrt(k)-like; norms near 1), tiled: real sizes, real formats.
        let scale = if t.shape.len() == 1 { 0.1 } else { 1.7 / (cols as f32).sqrt() };
        let row_bytes = t.ty.row_bytes(cols).map_err(err)?;
        let mut pattern = vec![0u8; 16 * row_bytes];
        for r in 0..16 {
            let src: Vec<f32> = (0..cols).map(|_| rng.f32() * scale + if t.shape.len() == 1 { 1.0 } else { 0.0 }).collect();
            codec::quantize_row(t.ty, &src, &mut pattern[r * row_bytes..(r + 1) * row_bytes]).map_err(err)?;
        }
        for r0 in (0..rows).step_by(16) {
            let r1 = (r0 + 16).min(rows);
            w.write_data(&pattern[..(r1 - r0) * row_bytes]).map_err(err)?;
        }
    }
    w.finish().map_err(err)
}

fn print_plan(title: &str, p: &plan::TextPlan) {
    println!("{title}");
    println!("  one decoder layer's weights: {}", mib(p.layer_weights));
    for i in p.resident_weights.iter().chain(&p.activations) {
        println!("  {:<48} {:>12}", i.what, mib(i.bytes));
    }
    println!("  => encoder peak {}; then AlignNet's head alone {}", mib(p.peak_encoder), mib(p.peak_align));
}

pub fn run(b: &TextBench) -> Result<(), String> {
    let ty: GgmlType = b.format.parse().map_err(|e: x2edit_quantize::FormatError| e.to_string())?;
    let wf = x2edit_runtime::weights::weight_format(ty).ok_or_else(|| format!("--format {}: no GPU weight format", b.format))?;
    let full = QwenConfig::qwen25_vl_7b();
    for (act, name) in [(2, "f16"), (4, "f32")] {
        let p = plan::plan(&full, b.tokens, wf, act, true, AlignSizes::x2edit());
        print_plan(&format!("# dry-run plan: Qwen2.5-VL-7B, 28 layers, {} tokens, {} matrices, streaming, {name} activations", b.tokens, ty.name()), &p);
        let resident = plan::plan(&full, b.tokens, wf, act, false, AlignSizes::x2edit());
        println!("  (all 28 layers resident instead: {})", mib(resident.peak_encoder));
    }
    if b.dry_run {
        return Ok(());
    }
    let gpu = b.gpu.open().map_err(|e| e.to_string())?;
    header(&gpu, "bench text");
    let c = QwenConfig { num_hidden_layers: b.layers, vocab_size: 1024, ..full };
    let t0 = Instant::now();
    let bytes = synthetic_gguf(&c, ty)?;
    println!("synthetic {}-layer {} GGUF: {} in {:.1} s", c.num_hidden_layers, ty.name(), mib(bytes.len() as u64), t0.elapsed().as_secs_f64());
    let weights = Weights::new(Checkpoint::from_bytes("synthetic qwen2vl", bytes).map_err(|e| e.to_string())?);
    bench(&gpu, weights, &c, b.tokens, wf).map_err(|e| e.to_string())
}

fn bench(gpu: &Gpu, weights: Weights, c: &QwenConfig, tokens: usize, wf: WeightFormat) -> x2edit_runtime::Result<()> {
    let model = Qwen2Model::load(gpu, weights, Residency::Streaming)?;
    let mut rng = Rng(77);
    let conv_w: Vec<f32> = (0..(c.num_hidden_layers + 1) * 25).map(|_| rng.f32() * 0.2).collect();
    let conv = Conv { weight: gpu.upload_f32(&conv_w, &[conv_w.len()])?, bias: gpu.upload_f32(&[0.1], &[1])?, channels: c.num_hidden_layers + 1, kernel: 5 };
    // X2Edit-like input: a 60-token prompt left-padded to `tokens`
    let real = 60.min(tokens);
    let ids: Vec<u32> = (0..real).map(|i| (i * 37 % c.vocab_size) as u32).collect();
    let enc = Encoded::fixed(ids, tokens, 0);
    // pipelines compile on a short run first
    let warm = Encoded::fixed(vec![1, 2, 3], 8, 0);
    text::encode_hidden(&model, &conv, &warm, false)?;
    gpu.sync()?;
    gpu.reset_peak();
    let before = gpu.memory();
    let secs = time_runs(gpu, 0.0, 1, || Ok(()), || text::encode_hidden(&model, &conv, &enc, false).map(|_| ()))?;
    let peak = gpu.memory().peak;
    let per_layer = secs / c.num_hidden_layers as f64;
    let p = plan::plan(c, tokens, wf, if gpu.act() == x2edit_kernels::Act::F16 { 2 } else { 4 }, true, AlignSizes::x2edit());
    let flops = 2.0 * tokens as f64 * plan::layer_params(c) as f64 + 4.0 * (tokens * tokens * c.hidden_size) as f64;
    println!("{} layers x {} tokens, width {}: {:.2} s ({:.2} s per layer, {:.1} GFLOP/s); 28 layers ~ {:.0} s", c.num_hidden_layers, tokens, c.hidden_size, secs, per_layer, flops / per_layer / 1e9, per_layer * 28.0);
    println!("peak GPU memory {} (before the run {}), planned {} (one layer {})", mib(peak), mib(before.live + before.cached), mib(p.peak_encoder), mib(p.layer_weights));
    Ok(())
}
