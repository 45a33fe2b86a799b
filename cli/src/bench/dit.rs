//! `x2edit bench dit`: seconds per DiT step and peak GPU memory for a FLUX-shaped model (full
//! width, a few blocks, random weights written once to a temporary GGUF) with an X2Edit
//! adapter, resident and streaming, beside the dry-run plan; the plan for all 57 blocks.

use super::header;
use crate::GpuArgs;
use std::path::PathBuf;
use std::time::Instant;
use x2edit_kernels::WeightFormat;
use x2edit_quantize::GgmlType;
use x2edit_runtime::model::flux::synthetic::{write_adapter, write_flux, Spec};
use x2edit_runtime::model::flux::{plan, EditInputs, FluxModel, FluxOptions, PlanWeights, Preset};
use x2edit_runtime::{DType, Gpu, Result};

#[derive(clap::Args)]
pub struct DitBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Block matrix type: f16, q8_0, q4_k, ...
    #[arg(long, default_value = "q4_k")]
    pub r#type: String,
    /// Double and single blocks of the measured model.
    #[arg(long, default_value_t = 1)]
    pub double: usize,
    #[arg(long, default_value_t = 1)]
    pub single: usize,
    /// Token counts: 512 (512 + 1024 + 1024), 1024 (512 + 4096 + 4096), both, or tiny
    /// (64 + 64 + 64: minutes on a CPU adapter, where the weights dominate the peak).
    #[arg(long, default_value = "512", value_parser = ["512", "1024", "both", "tiny"])]
    pub mode: String,
    /// Weight residency of the measured runs: resident, streaming (one block's weights on the
    /// GPU at a time) or both.
    #[arg(long, value_enum, default_value_t = Residency::Both)]
    pub residency: Residency,
    /// Only print the dry-run plans.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Residency {
    Resident,
    Streaming,
    Both,
}

impl Residency {
    /// The `stream` settings to measure, in order.
    fn streams(self) -> &'static [bool] {
        match self {
            Residency::Resident => &[false],
            Residency::Streaming => &[true],
            Residency::Both => &[false, true],
        }
    }
}

fn weight_format(t: GgmlType) -> WeightFormat {
    x2edit_runtime::weights::weight_format(t).unwrap_or(WeightFormat::F32)
}

fn tokens(mode: &str) -> (usize, usize, usize) {
    match mode {
        "1024" => (512, 4096, 4096),
        "tiny" => (64, 64, 64),
        _ => (512, 1024, 1024),
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn step(gpu: &Gpu, model: &FluxModel, t: (usize, usize, usize)) -> Result<(f64, u64)> {
    let c = &model.cfg;
    let (lt, n, nc) = t;
    let zeros = |k: usize| vec![0.01f32; k];
    let ids = |rows: usize, off: f32| -> Vec<f32> { (0..rows).flat_map(|i| [0.0, off + (i / 64) as f32, (i % 64) as f32]).collect() };
    let mut e = model.begin(
        gpu,
        &EditInputs {
            txt: &zeros(lt * c.context_dim),
            pooled: &zeros(c.vec_dim),
            cond: &zeros(nc * c.in_channels),
            txt_ids: &vec![0.0; lt * 3],
            img_ids: &ids(n, 0.0),
            cond_ids: &ids(nc, 64.0),
            guidance: 3.5,
            task: Some(3),
        },
    )?;
    let x = gpu.upload_f32(&zeros(n * c.in_channels), &[n, c.in_channels])?;
    gpu.reset_peak();
    let t0 = Instant::now();
    let v = model.velocity(gpu, &mut e, &x, 0.75)?;
    gpu.sync()?;
    let secs = t0.elapsed().as_secs_f64();
    if !gpu.read_f32(&v)?.iter().all(|v| v.is_finite()) {
        return Err(x2edit_runtime::Error::Gpu("non-finite velocity".into()));
    }
    Ok((secs, gpu.memory().peak))
}

pub fn run(b: &DitBench) -> std::result::Result<(), String> {
    let ty: GgmlType = b.r#type.parse().map_err(|e| format!("--type: {e}"))?;
    let gpu = b.gpu.open().map_err(|e| e.to_string())?;
    header(&gpu, "DiT benchmark");
    let act = DType::act(gpu.act()).bytes_for(1);
    let wf = PlanWeights { blocks: weight_format(ty), resident: WeightFormat::BF16, lora: Some((12, 64, WeightFormat::F16)) };
    let modes: Vec<&str> = if b.mode == "both" { vec!["512", "1024"] } else { vec![b.mode.as_str()] };
    let full = Preset::Dev.config();
    for m in &modes {
        let p = plan(&full, wf, tokens(m), act, 4096, true);
        println!(
            "plan {m}-mode FLUX.1-dev + X2Edit (57 blocks, {} blocks, streaming): {:.0} MiB = resident {:.0} + one block {:.0} + streams {:.0} + activations {:.0}",
            ty,
            mib(p.total),
            mib(p.resident),
            mib(p.blocks),
            mib(p.streams),
            mib(p.activations)
        );
    }
    if b.dry_run {
        return Ok(());
    }
    let spec = Spec { ty, ..Spec::full(b.double, b.single, ty) };
    let dir = std::env::temp_dir().join(format!("x2edit-bench-dit-{}-{}-{}", ty, b.double, b.single));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (tf, af): (PathBuf, PathBuf) = (dir.join("transformer.gguf"), dir.join("adapter.gguf"));
    if !tf.exists() || !af.exists() {
        let t0 = Instant::now();
        write_flux(&tf, &spec).map_err(|e| e.to_string())?;
        write_adapter(&af, &spec).map_err(|e| e.to_string())?;
        println!("wrote synthetic {}+{} block model in {:.1} s to {}", b.double, b.single, t0.elapsed().as_secs_f64(), dir.display());
    }
    for m in &modes {
        for &stream in b.residency.streams() {
            let t0 = Instant::now();
            let model = FluxModel::load(&gpu, &tf, None, Some(&af), FluxOptions { stream, ..Default::default() }).map_err(|e| e.to_string())?;
            let load = t0.elapsed().as_secs_f64();
            let (_, _) = step(&gpu, &model, (64, 64, 64)).map_err(|e| e.to_string())?; // compile pipelines
            let (secs, peak) = step(&gpu, &model, tokens(m)).map_err(|e| e.to_string())?;
            // the plan of what the synthetic files hold: embedders and LoRA up matrices are f32 there
            // (the released model's embedders are bf16, as the 57-block plan above assumes)
            let file_wf = PlanWeights { resident: WeightFormat::F32, lora: Some((12, 64, WeightFormat::F32)), ..wf };
            let p = plan(&model.cfg, file_wf, tokens(m), act, 4096, stream);
            println!(
                "{m}-mode {}+{} blocks {ty} {}: load {load:.1} s, step {secs:.2} s, peak {:.0} MiB (plan {:.0} MiB)",
                b.double,
                b.single,
                if stream { "streaming" } else { "resident" },
                mib(peak),
                mib(p.total)
            );
            drop(model);
            gpu.trim();
        }
    }
    Ok(())
}
