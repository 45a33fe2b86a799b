//! The one error type of the crate. Every variant says which file and/or tensor, and what was expected
//! against what was found, so a user can act on it without a debugger.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{file}: truncated: needed {needed} bytes at offset {offset}, file has {len}")]
    Truncated { file: String, offset: u64, needed: u64, len: u64 },

    #[error("{file}: bad magic: expected {expected}, found {found:?}")]
    BadMagic { file: String, expected: &'static str, found: Vec<u8> },

    #[error("{file}: unsupported {what} version {found} (supported: {expected})")]
    UnsupportedVersion { file: String, what: &'static str, expected: &'static str, found: u64 },

    #[error("{file}: {what}: {detail}")]
    Malformed { file: String, what: String, detail: String },

    #[error("{file}: value {value} of {what} exceeds the limit {limit}")]
    LimitExceeded { file: String, what: &'static str, value: u64, limit: u64 },

    #[error("{file}: tensor `{tensor}`: unknown ggml type id {id}")]
    UnknownType { file: String, tensor: String, id: u32 },

    #[error("{file}: tensor `{tensor}`: dtype {dtype} is not supported ({hint})")]
    UnsupportedDtype { file: String, tensor: String, dtype: String, hint: &'static str },

    #[error("{file}: tensor `{tensor}`: {detail}")]
    BadTensor { file: String, tensor: String, detail: String },

    #[error("{file}: tensor `{tensor}`: data [{start}, {end}) lies outside the data section of {len} bytes")]
    OutOfBounds { file: String, tensor: String, start: u64, end: u64, len: u64 },

    #[error("{file}: tensors `{a}` and `{b}` overlap")]
    Overlap { file: String, a: String, b: String },

    #[error("{file}: tensor `{tensor}`: offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned { file: String, tensor: String, offset: u64, alignment: u64 },

    #[error("{file}: tensor `{tensor}` appears twice")]
    DuplicateTensor { file: String, tensor: String },

    #[error("{file}: metadata key `{key}` appears twice")]
    DuplicateKey { file: String, key: String },

    #[error("{file}: pickle: {detail}")]
    Pickle { file: String, detail: String },

    #[error("{file}: pickle: global `{module}.{name}` is not on the allow-list")]
    PickleGlobal { file: String, module: String, name: String },

    #[error("{file}: zip: {detail}")]
    Zip { file: String, detail: String },

    #[error("{file}: no tensor named `{tensor}`")]
    MissingTensor { file: String, tensor: String },

    #[error("tensor `{tensor}`: shape mismatch: expected {expected:?}, found {found:?}")]
    ShapeMismatch { tensor: String, expected: Vec<usize>, found: Vec<usize> },

    #[error("tensor `{tensor}`: row of {row} elements is not a multiple of the {ty} block size {block}")]
    RowNotDivisible { tensor: String, ty: &'static str, row: usize, block: usize },

    #[error("{file}: {detail}")]
    Unsupported { file: String, detail: String },

    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
}

pub type Result<T, E = FormatError> = std::result::Result<T, E>;

impl FormatError {
    pub(crate) fn malformed(file: &str, what: impl Into<String>, detail: impl Into<String>) -> Self {
        FormatError::Malformed { file: file.to_string(), what: what.into(), detail: detail.into() }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FormatError::Io { path: path.into(), source }
    }
}
