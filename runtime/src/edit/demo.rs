//! The embedded demo model (models/demo/*.gguf, built by models/demo/build.sh), used when no
//! model files are given: the README's first command edits on a fresh machine with it. A tiny
//! X2Edit trained on synthetic 64x64 edits by `python -m train.demo` (see models/demo/README.md
//! for what it can and cannot do yet).

use super::ModelSet;
use crate::error::Result;

const TRANSFORMER: &[u8] = include_bytes!("../../../models/demo/transformer.gguf");
const ADAPTER: &[u8] = include_bytes!("../../../models/demo/adapter.gguf");
const TEXT_ENCODER: &[u8] = include_bytes!("../../../models/demo/text_encoder.gguf");
const VAE: &[u8] = include_bytes!("../../../models/demo/vae.gguf");

/// What the CLI prints when it falls back to the demo model.
pub const DESCRIPTION: &str = "the embedded demo model (tiny X2Edit-architecture model, see models/demo/README.md)";

pub fn demo_models() -> Result<ModelSet> {
    ModelSet::from_gguf_bytes(TRANSFORMER.to_vec(), ADAPTER.to_vec(), TEXT_ENCODER.to_vec(), VAE.to_vec())
}

/// The demo text encoder's GGUF bytes (`bench edit` borrows its tokenizer for synthetic
/// full-width text encoders).
pub fn text_encoder_gguf() -> &'static [u8] {
    TEXT_ENCODER
}
