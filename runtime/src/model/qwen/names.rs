//! Tensor names of the three layouts a text encoder arrives in: the released HF names
//! (`model.layers.N.…`), transformers >= 4.52's nested names (`model.language_model.…`), and
//! llama.cpp's `qwen2vl` GGUF names (ours too). Blocks ask for HF names; this maps them.

use crate::weights::Weights;
use x2edit_quantize::names::qwen;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `prefix` replaces the leading `model.` (`model.` or `model.language_model.`).
    Hf { prefix: String },
    Gguf,
}

impl Naming {
    /// The layout of a checkpoint, from the name its embedding table has.
    pub fn detect(w: &Weights) -> Option<Naming> {
        if w.has("token_embd.weight") {
            Some(Naming::Gguf)
        } else if w.has("model.embed_tokens.weight") {
            Some(Naming::Hf { prefix: "model.".into() })
        } else if w.has("model.language_model.embed_tokens.weight") {
            Some(Naming::Hf { prefix: "model.language_model.".into() })
        } else {
            None
        }
    }

    /// The stored name of a released HF name.
    pub fn name(&self, hf: &str) -> String {
        match self {
            Naming::Hf { prefix } => match hf.strip_prefix("model.") {
                Some(rest) => format!("{prefix}{rest}"),
                None => hf.to_string(),
            },
            Naming::Gguf => qwen::hf_to_gguf(hf).unwrap_or_else(|| hf.to_string()),
        }
    }

    pub fn layer(&self, i: usize, suffix: &str) -> String {
        self.name(&format!("model.layers.{i}.{suffix}"))
    }

    pub fn embed_tokens(&self) -> String {
        self.name("model.embed_tokens.weight")
    }
}
