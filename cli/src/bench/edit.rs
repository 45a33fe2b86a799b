//! `x2edit bench edit`: a whole edit (text -> VAE encode -> DiT steps -> VAE decode) on
//! synthetic full-width models of reduced depth (Qwen2.5-VL-7B width, FLUX.1-dev width with an
//! X2Edit adapter and AlignNet, the FLUX VAE; random weights written once to a temporary
//! folder), within the mode's memory budget (2 GiB for 512 mode, 3 GiB for 1024 mode), so block
//! streaming and VAE tiling engage as they would for the full models: seconds and peak GPU
//! memory per stage. First the dry-run plan of the full-size Q4_K edit, stage by stage (each
//! stage's weights are released before the next loads), against the same budgets.

use super::header;
use crate::edit::parse_size;
use crate::GpuArgs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use x2edit_kernels::{layout, WeightFormat};
use x2edit_quantize::{Checkpoint, GgmlType};
use x2edit_runtime::edit::{demo, edit, EditRequest, Image, ModelPaths, ModelSet, SizeMode, Stage};
use x2edit_runtime::model::flux::synthetic::{write_adapter, write_flux, AlignSpec, Spec};
use x2edit_runtime::model::flux::{plan as dit_plan, PlanWeights, Preset};
use x2edit_runtime::model::qwen::plan::{plan as text_plan, AlignSizes};
use x2edit_runtime::model::qwen::{synthetic as qwen_synthetic, QwenConfig};
use x2edit_runtime::model::vae::synthetic::{random_gguf, tensor_shapes};
use x2edit_runtime::model::vae::{Pass, VaeConfig, VaeOptions};
use x2edit_runtime::text::{Task, TaskChoice};
use x2edit_runtime::{DType, Gpu, Weights};

#[derive(clap::Args)]
pub struct EditBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Only the full-size plans (no device work).
    #[arg(long)]
    pub dry_run: bool,
    /// Token counts and budget of the measured edit: 512 (512x512 image, 512 + 1024 + 1024
    /// tokens, 2 GiB) or 1024 (1024x1024, 512 + 4096 + 4096 tokens, 3 GiB).
    #[arg(long, default_value = "512", value_parser = ["512", "1024"])]
    pub mode: String,
    /// DiT double and single blocks and text-encoder layers of the measured models.
    #[arg(long, default_value_t = 1)]
    pub double: usize,
    #[arg(long, default_value_t = 1)]
    pub single: usize,
    #[arg(long, default_value_t = 1)]
    pub text_layers: usize,
    /// Storage type of the DiT blocks' and text layers' matrices.
    #[arg(long, default_value = "q4_k")]
    pub r#type: String,
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// GPU memory budget of the measured edit (K/M/G suffixes); default the mode's target.
    #[arg(long)]
    pub memory_budget: Option<String>,
    /// Divide every width by 1, 2 or 4 (with --size: a quick run of the same path on a CPU
    /// adapter); 1 is the full width the figures are about.
    #[arg(long, default_value_t = 1)]
    pub shrink: usize,
    /// Edit a SIZExSIZE image instead of the mode's (keeps the mode's budget).
    #[arg(long)]
    pub size: Option<usize>,
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

pub fn run(b: &EditBench) -> Result<(), String> {
    let gpu = b.gpu.open().map_err(|e| e.to_string())?;
    header(&gpu, "edit benchmark");
    print_plans(&gpu)?;
    if b.dry_run {
        return Ok(());
    }
    measure(&gpu, b)
}

/// The dry-run plan of the full-size Q4_K edit in both modes.
fn print_plans(gpu: &Gpu) -> Result<(), String> {
    let act = DType::act(gpu.act()).bytes_for(1);
    let q4k = WeightFormat::Q4_K;
    let qwen = QwenConfig::qwen25_vl_7b();
    let vae = VaeConfig::flux();
    let vae_weights: u64 = tensor_shapes(&vae).iter().map(|(_, s)| layout::gpu_bytes(WeightFormat::F16, s.iter().product()) as u64).sum();
    for (mode, px, budget) in [("512", 512usize, 2u64 << 30), ("1024", 1024, 3u64 << 30)] {
        let n = (px / 16) * (px / 16);
        let t = text_plan(&qwen, 512, q4k, act as usize, true, AlignSizes::x2edit());
        let text = t.peak_encoder.max(t.peak_align);
        // the VAE gets what the budget leaves after its weights; tiles when that is too little
        let opts = VaeOptions { memory_budget: Some(budget - vae_weights), ..Default::default() };
        let lat = px / 8;
        let enc = x2edit_runtime::model::vae::tile_plan(gpu, &vae, Pass::Encode, lat, lat, &opts).map_err(|e| e.to_string())?;
        let dec = x2edit_runtime::model::vae::tile_plan(gpu, &vae, Pass::Decode, lat, lat, &opts).map_err(|e| e.to_string())?;
        let w = PlanWeights { blocks: q4k, resident: WeightFormat::BF16, lora: Some((12, 64, WeightFormat::F16)) };
        let dit = dit_plan(&Preset::Dev.config(), w, (512, n, n), act, 4096, true).total;
        // carried between stages: prompt embeddings, pooled, cond latent (f32, host and GPU)
        let carried = 4 * (512 * 4096 + 768 + 2 * 16 * lat * lat) as u64;
        let stages = [
            ("text encoder (28 layers streamed) + AlignNet", text),
            ("VAE encode", vae_weights + enc.bytes),
            ("DiT step (57 blocks streamed)", dit),
            ("VAE decode", vae_weights + dec.bytes),
        ];
        let peak = stages.iter().map(|s| s.1).max().unwrap_or(0) + carried;
        println!("plan: {mode}-mode edit ({px}x{px}, {n} + {n} image tokens), full-size Q4_K, budget {:.0} MiB:", mib(budget));
        for (name, bytes) in stages {
            println!("  {name:<46} {:>8.0} MiB", mib(bytes));
        }
        println!("  VAE tiles: encode {} of {}x{} latent px, decode {} of {}x{}", enc.tiles(), enc.tile_h, enc.tile_w, dec.tiles(), dec.tile_h, dec.tile_w);
        println!("  planned peak {:.0} MiB -> {}", mib(peak), if peak <= budget { "fits" } else { "DOES NOT FIT" });
    }
    Ok(())
}

/// Writes the synthetic models (once per shape) and runs one edit through the library's
/// pipeline, as `x2edit edit` does.
fn measure(gpu: &Gpu, b: &EditBench) -> Result<(), String> {
    let ty: GgmlType = b.r#type.parse().map_err(|e| format!("--type: {e}"))?;
    let s = b.shrink;
    if ![1, 2, 4].contains(&s) {
        return Err(format!("--shrink {s}: expected 1, 2 or 4 (the head counts must stay whole)"));
    }
    let (px, mode, budget) = if b.mode == "1024" { (1024, SizeMode::Px1024, 3u64 << 30) } else { (512, SizeMode::Px512, 2u64 << 30) };
    let budget = b.memory_budget.as_deref().map(parse_size).transpose()?.unwrap_or(budget);
    let (px, mode) = match b.size {
        Some(p) if (16..=4096).contains(&p) => (p, SizeMode::Source),
        Some(p) => return Err(format!("--size {p}: expected 16..=4096 px")),
        None => (px, mode),
    };
    let dir = std::env::temp_dir().join(format!("x2edit-bench-edit-{ty}-{}-{}-{}-w{s}", b.double, b.single, b.text_layers));
    let t0 = Instant::now();
    let written = write_models(&dir, ty, b, s).map_err(|e| e.to_string())?;
    if written {
        println!("wrote synthetic models (1/{s} width) in {:.1} s to {}", t0.elapsed().as_secs_f64(), dir.display());
    }
    let models = ModelSet::open(&ModelPaths::from_dir(&dir).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    // a picture with structure (gradients and a disc), so the VAE sees more than a flat field
    let data = (0..px * px)
        .flat_map(|i| {
            let (y, x) = ((i / px) as f32 / px as f32, (i % px) as f32 / px as f32);
            let disc = ((x - 0.5).powi(2) + (y - 0.5).powi(2) < 0.06) as u8;
            [(255.0 * x) as u8, (255.0 * y) as u8, 60 + 150 * disc]
        })
        .collect();
    let image = Image::new(px, px, 3, data).map_err(|e| e.to_string())?;
    let req = EditRequest {
        task: TaskChoice::Fixed(Task::from_id(3).ok_or("task 3")?),
        steps: Some(b.steps),
        size: Some(mode),
        memory_budget: Some(budget),
        ..EditRequest::new(&image, "make it look like a watercolour painting")
    };
    // per-stage peaks: at each stage's start the previous stage's peak is read and reset, and
    // the stage's line printed at once (a run cut short still leaves the stages it finished)
    println!("measured: {px}x{px} edit, 1/{s} width, {}+{} DiT blocks, {} text layer(s), {ty}, {} step(s), budget {:.0} MiB:", b.double, b.single, b.text_layers, b.steps, mib(budget));
    let mut peaks: Vec<(Stage, u64)> = Vec::new();
    let mut current: Option<(Stage, Instant)> = None;
    let mut on_progress = |p: &x2edit_runtime::edit::Progress| {
        if current.map(|c| c.0) != Some(p.stage) {
            if let Some((prev, since)) = current {
                peaks.push((prev, gpu.memory().peak));
                stage_line(prev, since.elapsed().as_secs_f64(), gpu.memory().peak);
            }
            gpu.reset_peak();
            current = Some((p.stage, Instant::now()));
        }
    };
    let t0 = Instant::now();
    let out = edit(gpu, &models, &req, &mut on_progress, &AtomicBool::new(false)).map_err(|e| e.to_string())?;
    let total = t0.elapsed().as_secs_f64();
    if let Some((last, since)) = current {
        peaks.push((last, gpu.memory().peak));
        stage_line(last, since.elapsed().as_secs_f64(), gpu.memory().peak);
    }
    println!("  total    {total:>10.2} s   peak {:>8.0} MiB (the pipeline's own figure)", mib(out.peak_memory));
    Ok(())
}

fn stage_line(stage: Stage, secs: f64, peak: u64) {
    println!("  {:<8} {secs:>10.2} s   peak {:>8.0} MiB", format!("{stage:?}"), mib(peak));
}

/// transformer.gguf, adapter.gguf (with AlignNet), text_encoder.gguf (the demo model's
/// tokenizer) and vae.gguf in `dir`, unless a complete set is already there (a `complete`
/// marker, written last). Returns whether it wrote them.
fn write_models(dir: &Path, ty: GgmlType, b: &EditBench, s: usize) -> x2edit_runtime::Result<bool> {
    let io = |e: std::io::Error| x2edit_runtime::Error::Io { path: dir.to_path_buf(), source: e };
    let names = ["transformer.gguf", "adapter.gguf", "text_encoder.gguf", "vae.gguf"];
    if dir.join("complete").exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let demo_text = Weights::new(Checkpoint::from_bytes("demo text encoder", demo::text_encoder_gguf().to_vec())?);
    let vocab = demo_text.shape("token_embd.weight")?[0];
    let full = QwenConfig::qwen25_vl_7b();
    let qwen = QwenConfig {
        hidden_size: full.hidden_size / s,
        num_hidden_layers: b.text_layers,
        num_attention_heads: full.num_attention_heads / s,
        num_key_value_heads: (full.num_key_value_heads / s).max(1),
        intermediate_size: full.intermediate_size / s,
        vocab_size: vocab,
        ..full
    };
    let f = Spec::full(b.double, b.single, ty);
    let spec = Spec {
        hidden: f.hidden / s,
        mlp: f.mlp / s,
        context: f.context / s,
        vec: f.vec / s,
        rank: f.rank / s,
        align: Some(AlignSpec { channels: b.text_layers + 1, text_hidden: qwen.hidden_size }),
        ..f
    };
    let vae = VaeConfig { block_out_channels: VaeConfig::flux().block_out_channels.iter().map(|c| c / s).collect(), ..VaeConfig::flux() };
    write_flux(&dir.join(names[0]), &spec)?;
    write_adapter(&dir.join(names[1]), &spec)?;
    std::fs::write(dir.join(names[2]), qwen_synthetic::gguf(&qwen, ty, Some(demo_text.metadata()))?).map_err(io)?;
    std::fs::write(dir.join(names[3]), random_gguf(&vae, 5, GgmlType::F16)?).map_err(io)?;
    std::fs::write(dir.join("complete"), b"").map_err(io)?;
    Ok(true)
}
