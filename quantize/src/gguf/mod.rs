//! GGUF v3: reader (also over a byte prefix) and streaming writer.

pub mod reader;
pub mod writer;

pub const MAGIC: &[u8; 4] = b"GGUF";
pub const VERSION: u32 = 3;
pub const DEFAULT_ALIGNMENT: u64 = 32;
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: usize = 4;

/// GGUF stores dims innermost first (`ne`); everything else in this crate uses PyTorch order.
/// These two functions are the only place the order is swapped.
pub fn ne_to_shape(ne: &[u64]) -> Vec<usize> {
    ne.iter().rev().map(|&d| d as usize).collect()
}
pub fn shape_to_ne(shape: &[usize]) -> Vec<u64> {
    shape.iter().rev().map(|&d| d as u64).collect()
}

pub fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v / a * a)
}
