//! `x2edit`: instruction-based image editing on any GPU wgpu reaches (Vulkan, Metal, DX12),
//! plus the per-stage commands parity tests use and the benchmarks.

mod bench;
mod edit;
mod stage;
mod tensors;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use x2edit_runtime::{Gpu, GpuOptions, Precision};

#[derive(Parser)]
#[command(name = "x2edit", version, about = "X2Edit image editing on wgpu")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Edit an image with an instruction.
    Edit(Box<edit::EditArgs>),
    /// The sampler's sigmas (terminal 0 included) as a JSON array.
    Schedule {
        #[arg(long)]
        steps: usize,
        /// Noise tokens (cond tokens excluded).
        #[arg(long)]
        image_tokens: usize,
        /// The unshifted schedule (schnell-like bases).
        #[arg(long)]
        no_shift: bool,
    },
    /// Show the GPU adapter, its limits and features.
    Info(GpuArgs),
    /// Print throughput figures (seconds, GFLOP/s, GB/s, peak memory).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run one model stage on tensors from a safetensors file (parity tests, debugging).
    #[command(subcommand)]
    Stage(stage::StageCommand),
}

/// Device selection shared by every command.
#[derive(clap::Args, Clone, Debug)]
pub struct GpuArgs {
    /// f32 forces the f32 path everywhere; default f16 where the adapter has SHADER_F16.
    #[arg(long, value_parser = ["f32", "f16"])]
    precision: Option<String>,
    /// Substring of the adapter name to use (also X2EDIT_ADAPTER).
    #[arg(long)]
    adapter: Option<String>,
}

impl GpuArgs {
    pub fn open(&self) -> Result<Gpu, x2edit_runtime::Error> {
        let mut o = GpuOptions::from_env()?;
        if let Some(p) = &self.precision {
            o.precision = Some(p.parse::<Precision>()?);
        }
        if self.adapter.is_some() {
            o.adapter = self.adapter.clone();
        }
        Gpu::new(o)
    }
}

fn info(args: &GpuArgs) -> Result<(), x2edit_runtime::Error> {
    let gpu = args.open()?;
    println!("adapter: {}", gpu.adapter());
    println!("precision: {:?} (SHADER_F16 {}, SUBGROUP {})", gpu.precision(), gpu.has_f16(), gpu.has_subgroup());
    println!("max storage binding: {} bytes", gpu.binding_limit());
    println!("max buffer: {} bytes", gpu.max_buffer_size());
    println!("kernels: {}", x2edit_kernels::Kernel::ALL.len());
    Ok(())
}

fn schedule(steps: usize, tokens: usize, no_shift: bool) -> Result<(), String> {
    use x2edit_runtime::sampler::{sigmas, Shift};
    let s = sigmas(steps, tokens, if no_shift { Shift::NONE } else { Shift::DEV }).map_err(|e| e.to_string())?;
    let items: Vec<String> = s.iter().map(|v| format!("{v}")).collect();
    println!("[{}]", items.join(", "));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Edit(a) => edit::run(a),
        Command::Schedule { steps, image_tokens, no_shift } => schedule(*steps, *image_tokens, *no_shift),
        Command::Info(a) => info(a).map_err(|e| e.to_string()),
        Command::Bench(b) => bench::run(b),
        Command::Stage(s) => stage::run(s),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("x2edit: error: {e}");
            ExitCode::FAILURE
        }
    }
}
