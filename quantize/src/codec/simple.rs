//! The 32-element block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1. Quantization is bit-exact with gguf-py
//! (`gguf/quants.py`), which matches ggml's `quantize_row_*_ref`: the reciprocal scale is computed in f32
//! from the f32 scale (not from its f16 rounding), Q8_0 rounds half away from zero, the others truncate
//! `x*id + 8.5` / `+16.5` / `+0.5` and clamp. No fused multiply-add anywhere: numpy does not fuse.
//! Dequantization follows gguf-py's operation order (`d*q + m`), again unfused.

use super::blocks::*;

/// Value of largest magnitude, keeping its sign; the first one wins ties (numpy argmax).
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let mut lo = x[0];
    let mut hi = x[0];
    for &v in &x[1..] {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo, hi)
}

fn recip(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

pub fn quantize_q8_0(x: &[f32], b: &mut BlockQ8_0) {
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = recip(d);
    for (q, v) in b.qs.iter_mut().zip(x) {
        // f32::round is round-half-away-from-zero, like ggml's roundf and gguf-py's np_roundf.
        *q = (v * id).round() as i8;
    }
    b.d = f16_put(d);
}

pub fn dequantize_q8_0(b: &BlockQ8_0, y: &mut [f32]) {
    let d = f16_get(b.d);
    for (o, &q) in y.iter_mut().zip(&b.qs) {
        *o = q as f32 * d;
    }
}

/// Shared by Q4_0 and Q5_0: symmetric, `d = max / -half`, `q = trunc(x*id + half + 0.5)` clamped.
fn quantize_sym(x: &[f32], half: f32, qmax: u8, q: &mut [u8; 32]) -> f32 {
    let d = signed_absmax(x) / -half;
    let id = recip(d);
    for (o, v) in q.iter_mut().zip(x) {
        *o = ((v * id + (half + 0.5)).trunc() as u8).min(qmax);
    }
    d
}

/// Shared by Q4_1 and Q5_1: affine, `d = (max - min) / qmax`, `q = trunc((x - min)*id + 0.5)` clamped.
fn quantize_affine(x: &[f32], qmax: u8, q: &mut [u8; 32]) -> (f32, f32) {
    let (min, max) = min_max(x);
    let d = (max - min) / qmax as f32;
    let id = recip(d);
    for (o, v) in q.iter_mut().zip(x) {
        *o = (((v - min) * id + 0.5).trunc() as u8).min(qmax);
    }
    (d, min)
}

/// Element j in the low nibble of byte j, element j+16 in the high nibble.
fn pack_nibbles(q: &[u8; 32], qs: &mut [u8; 16]) {
    for j in 0..16 {
        qs[j] = (q[j] & 0x0F) | (q[j + 16] << 4);
    }
}

/// Bit j of the little-endian u32 is the 5th bit of element j.
fn pack_high_bits(q: &[u8; 32]) -> [u8; 4] {
    let mut h = 0u32;
    for (j, v) in q.iter().enumerate() {
        h |= (((v >> 4) & 1) as u32) << j;
    }
    h.to_le_bytes()
}

fn nibble(qs: &[u8; 16], j: usize) -> u8 {
    if j < 16 {
        qs[j] & 0x0F
    } else {
        qs[j - 16] >> 4
    }
}

fn five_bit(qs: &[u8; 16], qh: [u8; 4], j: usize) -> u8 {
    nibble(qs, j) | ((((u32::from_le_bytes(qh) >> j) & 1) as u8) << 4)
}

pub fn quantize_q4_0(x: &[f32], b: &mut BlockQ4_0) {
    let mut q = [0u8; 32];
    let d = quantize_sym(x, 8.0, 15, &mut q);
    b.d = f16_put(d);
    pack_nibbles(&q, &mut b.qs);
}

pub fn dequantize_q4_0(b: &BlockQ4_0, y: &mut [f32]) {
    let d = f16_get(b.d);
    for (j, o) in y.iter_mut().enumerate() {
        *o = d * (nibble(&b.qs, j) as i32 - 8) as f32;
    }
}

pub fn quantize_q4_1(x: &[f32], b: &mut BlockQ4_1) {
    let mut q = [0u8; 32];
    let (d, m) = quantize_affine(x, 15, &mut q);
    b.d = f16_put(d);
    b.m = f16_put(m);
    pack_nibbles(&q, &mut b.qs);
}

pub fn dequantize_q4_1(b: &BlockQ4_1, y: &mut [f32]) {
    let (d, m) = (f16_get(b.d), f16_get(b.m));
    for (j, o) in y.iter_mut().enumerate() {
        *o = d * nibble(&b.qs, j) as f32 + m;
    }
}

pub fn quantize_q5_0(x: &[f32], b: &mut BlockQ5_0) {
    let mut q = [0u8; 32];
    let d = quantize_sym(x, 16.0, 31, &mut q);
    b.d = f16_put(d);
    b.qh = pack_high_bits(&q);
    pack_nibbles(&q, &mut b.qs);
}

pub fn dequantize_q5_0(b: &BlockQ5_0, y: &mut [f32]) {
    let d = f16_get(b.d);
    for (j, o) in y.iter_mut().enumerate() {
        *o = d * (five_bit(&b.qs, b.qh, j) as i32 - 16) as f32;
    }
}

pub fn quantize_q5_1(x: &[f32], b: &mut BlockQ5_1) {
    let mut q = [0u8; 32];
    let (d, m) = quantize_affine(x, 31, &mut q);
    b.d = f16_put(d);
    b.m = f16_put(m);
    b.qh = pack_high_bits(&q);
    pack_nibbles(&q, &mut b.qs);
}

pub fn dequantize_q5_1(b: &BlockQ5_1, y: &mut [f32]) {
    let (d, m) = (f16_get(b.d), f16_get(b.m));
    for (j, o) in y.iter_mut().enumerate() {
        *o = d * five_bit(&b.qs, b.qh, j) as f32 + m;
    }
}
