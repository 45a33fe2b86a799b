//! `x2edit bench edit --dry-run`: the memory plan of a whole edit at full size (Qwen2.5-VL-7B
//! text encoder, FLUX.1-dev + X2Edit adapter, FLUX VAE; Q4_K), stage by stage (each stage's
//! weights are released before the next loads), against the 2 GiB (512 mode) and 3 GiB
//! (1024 mode) budgets. Measured figures of each stage come from `bench text`, `bench vae`
//! and `bench dit` on full-width models of reduced depth.

use super::header;
use crate::GpuArgs;
use x2edit_kernels::{layout, WeightFormat};
use x2edit_runtime::model::flux::{plan as dit_plan, PlanWeights, Preset};
use x2edit_runtime::model::qwen::plan::{plan as text_plan, AlignSizes};
use x2edit_runtime::model::qwen::QwenConfig;
use x2edit_runtime::model::vae::synthetic::tensor_shapes;
use x2edit_runtime::model::vae::{Pass, VaeConfig, VaeOptions};
use x2edit_runtime::DType;

#[derive(clap::Args)]
pub struct EditBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Only the plans (the measured figures come from the per-stage benches).
    #[arg(long, default_value_t = true)]
    pub dry_run: bool,
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

pub fn run(b: &EditBench) -> Result<(), String> {
    let gpu = b.gpu.open().map_err(|e| e.to_string())?;
    header(&gpu, "edit memory plan");
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
        let enc = x2edit_runtime::model::vae::tile_plan(&gpu, &vae, Pass::Encode, lat, lat, &opts).map_err(|e| e.to_string())?;
        let dec = x2edit_runtime::model::vae::tile_plan(&gpu, &vae, Pass::Decode, lat, lat, &opts).map_err(|e| e.to_string())?;
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
        println!("{mode}-mode edit ({px}x{px}, {n} + {n} image tokens), Q4_K, budget {:.0} MiB:", mib(budget));
        for (name, bytes) in stages {
            println!("  {name:<46} {:>8.0} MiB", mib(bytes));
        }
        println!("  VAE tiles: encode {} of {}x{} latent px, decode {} of {}x{}", enc.tiles(), enc.tile_h, enc.tile_w, dec.tiles(), dec.tile_h, dec.tile_w);
        println!("  planned peak {:.0} MiB -> {}", mib(peak), if peak <= budget { "fits" } else { "DOES NOT FIT" });
    }
    Ok(())
}
