//! The runtime's error type: every failure names what it concerns.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no GPU adapter found{0}")]
    NoAdapter(String),
    #[error("could not create the GPU device on '{adapter}': {reason}")]
    Device { adapter: String, reason: String },
    #[error("GPU error: {0}")]
    Gpu(String),
    #[error("{what} needs {bytes} bytes, more than the device allows in one buffer ({limit})")]
    TooLarge { what: String, bytes: u64, limit: u64 },
    #[error("kernel source: {0}")]
    Kernel(#[from] x2edit_kernels::SourceError),
    #[error("{what}: expected shape {expected}, found {found}")]
    Shape { what: String, expected: String, found: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{0}: unsupported: {1}")]
    Unsupported(String, String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Format(#[from] x2edit_quantize::FormatError),
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(what: impl Into<String>, expected: impl std::fmt::Debug, found: impl std::fmt::Debug) -> Error {
        Error::Shape { what: what.into(), expected: format!("{expected:?}"), found: format!("{found:?}") }
    }
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid { what: what.into(), reason: reason.into() }
    }
}
