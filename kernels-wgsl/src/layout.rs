//! The GPU layout of weight blocks. Decision: repack once at load, so every field the
//! kernels read is u32-aligned. ggml's Q8_0 (34 bytes), Q4_0 (18), Q5_0 (22) and Q6_K (210)
//! blocks are not 4-byte multiples; we insert 2 zero bytes after the leading f16 scale of
//! Q8_0/Q4_0/Q5_0 (so qh/qs start on a word) and append 2 bytes to Q6_K (whose fields are
//! already aligned inside the block). Everything else is uploaded byte for byte. The cost is
//! 2 bytes per block (6% for Q8_0, 11% for Q4_0, 1% for Q6_K) and one pass over the bytes
//! at load, against byte-extraction arithmetic in every matmul inner loop.

use crate::WeightFormat;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError {
    pub format: WeightFormat,
    pub bytes: usize,
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes is not a whole number of {} blocks", self.bytes, self.format.name())
    }
}

impl std::error::Error for LayoutError {}

/// Bytes of one block in the GPU layout.
pub fn gpu_block_bytes(f: WeightFormat) -> usize {
    match f {
        WeightFormat::Q8_0 => 36,
        WeightFormat::Q4_0 => 20,
        WeightFormat::Q5_0 => 24,
        WeightFormat::Q6_K => 212,
        _ => f.file_block_bytes(),
    }
}

/// Bytes a tensor of `elems` elements occupies on the GPU (rounded up to a whole word).
pub fn gpu_bytes(f: WeightFormat, elems: usize) -> usize {
    let blocks = elems.div_ceil(f.block_elems());
    (blocks * gpu_block_bytes(f)).next_multiple_of(4)
}

/// Converts ggml-layout bytes of format `f` to the GPU layout.
pub fn repack(f: WeightFormat, src: &[u8]) -> Result<Vec<u8>, LayoutError> {
    let fb = f.file_block_bytes();
    if !src.len().is_multiple_of(fb) {
        return Err(LayoutError { format: f, bytes: src.len() });
    }
    let gb = gpu_block_bytes(f);
    let mut out = Vec::with_capacity((src.len() / fb * gb).next_multiple_of(4));
    if gb == fb {
        out.extend_from_slice(src);
    } else {
        for block in src.chunks_exact(fb) {
            match f {
                WeightFormat::Q6_K => {
                    out.extend_from_slice(block);
                    out.extend_from_slice(&[0, 0]);
                }
                _ => {
                    out.extend_from_slice(&block[..2]);
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(&block[2..]);
                }
            }
        }
    }
    out.resize(out.len().next_multiple_of(4), 0);
    Ok(out)
}
