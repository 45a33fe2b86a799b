//! Plain float and integer element types.

/// f32 -> bf16 exactly as ggml's `ggml_compute_fp32_to_bf16` and gguf-py's BF16.quantize_blocks:
/// NaN forced quiet, otherwise round to nearest even.
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let n = x.to_bits();
    if n & 0x7fff_ffff > 0x7f80_0000 {
        return ((n >> 16) | 64) as u16;
    }
    ((n as u64 + (0x7fff + ((n >> 16) & 1)) as u64) >> 16) as u16
}

pub fn bf16_bits_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

pub fn quantize_f16(src: &[f32], dst: &mut [u8]) {
    for (x, o) in src.iter().zip(dst.chunks_exact_mut(2)) {
        o.copy_from_slice(&half::f16::from_f32(*x).to_bits().to_le_bytes());
    }
}

pub fn quantize_bf16(src: &[f32], dst: &mut [u8]) {
    for (x, o) in src.iter().zip(dst.chunks_exact_mut(2)) {
        o.copy_from_slice(&f32_to_bf16_bits(*x).to_le_bytes());
    }
}

pub fn quantize_f32(src: &[f32], dst: &mut [u8]) {
    for (x, o) in src.iter().zip(dst.chunks_exact_mut(4)) {
        o.copy_from_slice(&x.to_le_bytes());
    }
}

/// Reads `N`-byte little-endian elements and converts each to f32.
pub fn dequantize_le<const N: usize>(src: &[u8], dst: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (c, o) in src.chunks_exact(N).zip(dst.iter_mut()) {
        let mut b = [0u8; N];
        b.copy_from_slice(c);
        *o = f(b);
    }
}
