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
use x2edit_quantize::{Checkpoint, GgmlType};
use x2edit_runtime::model::alignnet::Conv;
use x2edit_runtime::model::qwen::plan::{self, mib, AlignSizes};
use x2edit_runtime::model::qwen::{synthetic, QwenConfig, Qwen2Model, Residency};
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
    let bytes = synthetic::gguf(&c, ty, None).map_err(|e| e.to_string())?;
    println!("synthetic {}-layer {} GGUF: {} in {:.1} s", c.num_hidden_layers, ty.name(), mib(bytes.len() as u64), t0.elapsed().as_secs_f64());
    let weights = Weights::new(Checkpoint::from_bytes("synthetic qwen2vl", bytes).map_err(|e| e.to_string())?);
    bench(&gpu, weights, &c, b.tokens, wf).map_err(|e| e.to_string())
}

fn bench(gpu: &Gpu, weights: Weights, c: &QwenConfig, tokens: usize, wf: WeightFormat) -> x2edit_runtime::Result<()> {
    let model = Qwen2Model::load(gpu, weights, Residency::Streaming)?;
    let conv_w: Vec<f32> = (0..(c.num_hidden_layers + 1) * 25).map(|i| (i as f32 * 0.37).sin() * 0.2).collect();
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
