//! x2edit-quantize: checkpoint formats (GGUF v3, safetensors, PyTorch zip state dicts), ggml block
//! codecs, tensor-name maps between FLUX/VAE/Qwen2.5-VL/X2Edit conventions, and the conversion that the
//! `x2edit-quantize` binary drives. No GPU dependency; nothing here executes code from a file.

pub mod checkpoint;
pub mod codec;
pub mod convert;
pub mod error;
pub mod gguf;
pub mod metadata;
pub mod names;
pub mod pickle;
pub mod safetensors;
pub mod types;
pub mod zip;

pub use error::{FormatError, Result};
pub use metadata::{Metadata, Value, ValueType};
pub use types::{GgmlType, TensorInfo, QK_K};
pub use checkpoint::{Checkpoint, FileKind, RangeSource};
