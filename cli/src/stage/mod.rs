//! `x2edit stage NAME --inputs IN.safetensors --out OUT.safetensors [model flags]`: one model
//! stage on tensors from a file (the contract in shared/reference/stage-interface.md).

mod dit;
mod text;
mod vae;

use crate::GpuArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Where the models come from (every command that loads models).
#[derive(Args, Clone, Debug, Default)]
pub struct ModelArgs {
    /// FLUX transformer: BFL single-file safetensors, diffusers folder, our GGUF or a community FLUX GGUF.
    #[arg(long)]
    pub transformer: Option<PathBuf>,
    /// diffusers config.json for what cannot be inferred from the transformer's shapes.
    #[arg(long)]
    pub transformer_config: Option<PathBuf>,
    /// X2Edit adapter: release folder (lora.safetensors, task_embeddings.bin, diffusion_pytorch_model.bin) or our GGUF.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Qwen2.5-VL: HF folder, our GGUF, or a llama.cpp qwen2vl GGUF.
    #[arg(long)]
    pub text_encoder: Option<PathBuf>,
    /// FLUX VAE: BFL ae.safetensors, diffusers AutoencoderKL folder, or our GGUF.
    #[arg(long)]
    pub vae: Option<PathBuf>,
    /// diffusers config.json for a single-file VAE whose sizes cannot be inferred.
    #[arg(long)]
    pub vae_config: Option<PathBuf>,
    /// A folder with transformer/ or transformer.gguf, adapter/ or adapter.gguf, text_encoder/ or
    /// text_encoder.gguf, vae/, vae.gguf or ae.safetensors.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// The model a command needs: the explicit flag, else the matching entry of --model-dir.
impl ModelArgs {
    pub fn resolve(&self, flag: &Option<PathBuf>, flag_name: &str, dir_entries: &[&str]) -> Result<PathBuf, String> {
        if let Some(p) = flag {
            return Ok(p.clone());
        }
        if let Some(dir) = &self.model_dir {
            for e in dir_entries {
                let p = dir.join(e);
                if p.exists() {
                    return Ok(p);
                }
            }
            return Err(format!("{}: none of {dir_entries:?} found (or pass --{flag_name})", dir.display()));
        }
        Err(format!("--{flag_name} (or --model-dir) is required"))
    }
    pub fn transformer_path(&self) -> Result<PathBuf, String> {
        self.resolve(&self.transformer, "transformer", &["transformer", "transformer.gguf"])
    }
    pub fn adapter_path(&self) -> Result<PathBuf, String> {
        self.resolve(&self.adapter, "adapter", &["adapter", "adapter.gguf"])
    }
    pub fn text_encoder_path(&self) -> Result<PathBuf, String> {
        self.resolve(&self.text_encoder, "text-encoder", &["text_encoder", "text_encoder.gguf"])
    }
    pub fn vae_path(&self) -> Result<PathBuf, String> {
        self.resolve(&self.vae, "vae", &["vae", "vae.gguf", "ae.safetensors"])
    }
}

/// Input and output files of a stage.
#[derive(Args, Clone, Debug)]
pub struct Io {
    #[arg(long)]
    pub inputs: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum StageCommand {
    /// One DiT evaluation: velocity for img at timestep.
    Dit(dit::DitArgs),
    /// The Euler loop from noise over sigmas.
    Sample(dit::DitArgs),
    /// Qwen2.5-VL hidden states and AlignNet outputs for token ids.
    Text(text::TextArgs),
    /// AlignNet: hidden states to prompt_embeds and pooled.
    Align(text::AlignArgs),
    /// Tokenize a prompt as X2Edit does.
    Tokenize(text::TokenizeArgs),
    /// VAE encoder: image in [-1,1] to the shifted, scaled latent mean.
    VaeEncode(vae::VaeArgs),
    /// VAE decoder: scaled latent to the image (unclamped).
    VaeDecode(vae::VaeArgs),
}

pub fn run(cmd: &StageCommand) -> Result<(), String> {
    match cmd {
        StageCommand::Dit(a) => dit::run(a, false),
        StageCommand::Sample(a) => dit::run(a, true),
        StageCommand::Text(a) => text::run_text(a),
        StageCommand::Align(a) => text::run_align(a),
        StageCommand::Tokenize(a) => text::run_tokenize(a),
        StageCommand::VaeEncode(a) => vae::run(a, true),
        StageCommand::VaeDecode(a) => vae::run(a, false),
    }
}

pub fn gpu_args(precision: &Option<String>) -> GpuArgs {
    GpuArgs { precision: precision.clone(), adapter: None }
}
