//! `x2edit bench ...`: figures, never assertions. Each report names the adapter; absolute
//! numbers from a CPU adapter (lavapipe) only compare with each other.

mod dit;
mod edit;
mod kernels;
mod text;
mod vae;

use crate::GpuArgs;
use clap::Subcommand;
use std::time::Instant;
use x2edit_runtime::{Gpu, Result};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Matmul (per weight format), attention, norms, RoPE, MoE, conv: time, GFLOP/s, GB/s.
    Kernels {
        /// Every FLUX shape (slow on CPU adapters); the default set takes under 2 minutes on lavapipe.
        #[arg(long)]
        full: bool,
        /// Only these kernel families (repeatable; default all).
        #[arg(long, value_enum)]
        only: Vec<kernels::Family>,
        /// Only these matmul weight formats (repeatable: f16, q8_0, q4_k, ...; default f16 q8_0 q4_0 q4_k).
        #[arg(long = "format")]
        formats: Vec<String>,
        #[command(flatten)]
        gpu: GpuArgs,
    },
    /// Seconds per DiT step and peak memory for FLUX-shaped configurations.
    Dit(dit::DitBench),
    /// Time and peak memory of a Qwen2.5-7B-shaped text encoder stack.
    Text(text::TextBench),
    /// A whole edit on full-width models of reduced depth: seconds and peak memory per stage,
    /// beside the full-size plan against the 2 GiB (512) and 3 GiB (1024) budgets.
    Edit(edit::EditBench),
    /// VAE encode/decode time and peak memory (tiled and untiled).
    Vae(vae::VaeBench),
}

pub fn run(cmd: &BenchCommand) -> std::result::Result<(), String> {
    match cmd {
        BenchCommand::Kernels { full, only, formats, gpu } => kernels::run(gpu, *full, only, formats).map_err(|e| e.to_string()),
        BenchCommand::Dit(b) => dit::run(b),
        BenchCommand::Text(b) => text::run(b),
        BenchCommand::Vae(b) => vae::run(b),
        BenchCommand::Edit(b) => edit::run(b),
    }
}

/// Seconds per run of `f` after `warm` (the same kernels on a small problem, so pipelines are
/// compiled untimed without paying for a full-size run): runs until `min_secs` have passed
/// (at least one, at most `max_runs`).
pub fn time_runs(gpu: &Gpu, min_secs: f64, max_runs: usize, warm: impl FnOnce() -> Result<()>, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    warm()?;
    gpu.sync()?;
    let t0 = Instant::now();
    let mut runs = 0;
    while runs < max_runs.max(1) {
        f()?;
        gpu.sync()?;
        runs += 1;
        if t0.elapsed().as_secs_f64() >= min_secs {
            break;
        }
    }
    Ok(t0.elapsed().as_secs_f64() / runs as f64)
}

pub fn header(gpu: &Gpu, what: &str) {
    let sg = if gpu.has_subgroup() { "subgroups" } else { "no subgroups" };
    println!("# {what} on {} — precision {:?}, {sg}", gpu.adapter(), gpu.precision());
}
