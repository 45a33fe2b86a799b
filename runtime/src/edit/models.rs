//! The four models an edit needs, from paths (files or folders, memory-mapped) or from bytes
//! (the embedded demo model, C ABI buffers, browser files).

use crate::error::{Error, Result};
use crate::text::Tokenizer;
use crate::weights::Weights;
use std::path::{Path, PathBuf};
use x2edit_quantize::Checkpoint;

pub struct ModelSet {
    pub transformer: Weights,
    pub transformer_config: Option<PathBuf>,
    pub adapter: Weights,
    pub text_encoder: Weights,
    pub tokenizer: Tokenizer,
    pub vae: Weights,
    pub vae_config: Option<PathBuf>,
}

/// Where each model lives on disk.
#[derive(Clone, Debug, Default)]
pub struct ModelPaths {
    pub transformer: PathBuf,
    pub transformer_config: Option<PathBuf>,
    pub adapter: PathBuf,
    pub text_encoder: PathBuf,
    pub vae: PathBuf,
    pub vae_config: Option<PathBuf>,
}

impl ModelPaths {
    /// The entries of a model folder: `transformer/` or `transformer.gguf`, `adapter/` or
    /// `adapter.gguf`, `text_encoder/` or `text_encoder.gguf`, `vae/`, `vae.gguf` or
    /// `ae.safetensors`.
    pub fn from_dir(dir: &Path) -> Result<ModelPaths> {
        let find = |names: &[&str]| -> Result<PathBuf> {
            names.iter().map(|n| dir.join(n)).find(|p| p.exists()).ok_or_else(|| {
                Error::invalid(dir.display().to_string(), format!("none of {names:?} found in the model folder"))
            })
        };
        Ok(ModelPaths {
            transformer: find(&["transformer", "transformer.gguf"])?,
            transformer_config: None,
            adapter: find(&["adapter", "adapter.gguf"])?,
            text_encoder: find(&["text_encoder", "text_encoder.gguf"])?,
            vae: find(&["vae", "vae.gguf", "ae.safetensors"])?,
            vae_config: None,
        })
    }
}

impl ModelSet {
    pub fn open(p: &ModelPaths) -> Result<ModelSet> {
        Ok(ModelSet {
            transformer: Weights::open(&p.transformer)?,
            transformer_config: p.transformer_config.clone(),
            adapter: Weights::open(&p.adapter)?,
            text_encoder: Weights::open(&p.text_encoder)?,
            tokenizer: Tokenizer::open(&p.text_encoder)?,
            vae: {
                let mut ck = Checkpoint::open(&p.vae)?;
                if let Some(f) = &p.vae_config {
                    ck.set_config_file(f)?;
                }
                Weights::new(ck)
            },
            vae_config: p.vae_config.clone(),
        })
    }

    /// Four GGUF files held in memory (`transformer`, `adapter`, `text_encoder` with its
    /// tokenizer, `vae`).
    pub fn from_gguf_bytes(transformer: Vec<u8>, adapter: Vec<u8>, text_encoder: Vec<u8>, vae: Vec<u8>) -> Result<ModelSet> {
        ModelSet::from_checkpoints(
            Checkpoint::from_bytes("transformer.gguf", transformer)?,
            Checkpoint::from_bytes("adapter.gguf", adapter)?,
            Checkpoint::from_bytes("text_encoder.gguf", text_encoder)?,
            Checkpoint::from_bytes("vae.gguf", vae)?,
        )
    }

    /// Four opened checkpoints (e.g. GGUF files read by ranges in a browser); the text
    /// encoder's GGUF carries the tokenizer.
    pub fn from_checkpoints(transformer: Checkpoint, adapter: Checkpoint, text_encoder: Checkpoint, vae: Checkpoint) -> Result<ModelSet> {
        let tokenizer = Tokenizer::from_gguf(text_encoder.metadata(), text_encoder.label())?;
        Ok(ModelSet {
            transformer: Weights::new(transformer),
            transformer_config: None,
            adapter: Weights::new(adapter),
            text_encoder: Weights::new(text_encoder),
            tokenizer,
            vae: Weights::new(vae),
            vae_config: None,
        })
    }

    /// The model's native edit size from the adapter's metadata (`x2edit.native_size`), else
    /// 1024 (full-size models).
    pub fn native_size(&self) -> usize {
        self.adapter.metadata().get_i64("x2edit.native_size").map(|v| v as usize).unwrap_or(1024)
    }
}
