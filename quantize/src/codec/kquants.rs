//! K-quants (256-element super-blocks). Dequantization follows gguf-py's `quants.py` operation order
//! (bit-exact with it). Quantization of Q4_K, Q5_K and Q6_K follows ggml's reference functions
//! (`quantize_row_q{4,5,6}_K_ref` with `make_qkx2_quants` / `make_qx_quants`), written out here without
//! fused multiply-adds; C builds that contract `a*b+c` into FMA can differ in rare last-bit ties.

use super::blocks::*;
use crate::types::QK_K;

/// ggml's `GROUP_MAX_EPS`: below this a group is treated as all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round half to even through the 1.5*2^23 trick, valid for |x| <= 2^22 - 1.
/// Out-of-range or NaN inputs (only possible for hostile data) are clamped first instead of asserting.
fn nearest_int(x: f32) -> i32 {
    let x = if x.is_nan() { 0.0 } else { x.clamp(-4194303.0, 4194303.0) };
    let v = x + 12582912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// The 6-bit scale and min of sub-block `j` (ggml `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

// ---------------------------------------------------------------- dequantization

pub fn dequantize_q2_k(b: &BlockQ2K, y: &mut [f32]) {
    let (d, dmin) = (f16_get(b.d), f16_get(b.dmin));
    for (e, o) in y.iter_mut().enumerate().take(QK_K) {
        let (h, s, l) = (e / 128, (e / 32) % 4, e % 32);
        let sc = b.scales[e / 16];
        let dl = d * (sc & 0xF) as f32;
        let ml = dmin * (sc >> 4) as f32;
        let q = (b.qs[h * 32 + l] >> (2 * s)) & 3;
        *o = dl * q as f32 - ml;
    }
}

pub fn dequantize_q3_k(b: &BlockQ3K, y: &mut [f32]) {
    let d = f16_get(b.d);
    let mut sc = [0f32; 16];
    for (i, s) in sc.iter_mut().enumerate() {
        let lo = (b.scales[i % 8] >> (4 * (i / 8))) & 0x0F;
        let hi = (b.scales[8 + i % 4] >> (2 * (i / 4))) & 0x03;
        *s = ((lo | (hi << 4)) as i8 - 32) as f32;
    }
    for (e, o) in y.iter_mut().enumerate().take(QK_K) {
        let (h, s, l) = (e / 128, (e / 32) % 4, e % 32);
        let ql = ((b.qs[h * 32 + l] >> (2 * s)) & 3) as i8;
        // The hmask bit set means "no -4 offset".
        let qh = ((b.hmask[l] >> (e / 32)) & 1) ^ 1;
        let q = ql - ((qh << 2) as i8);
        *o = (d * sc[e / 16]) * q as f32;
    }
}

pub fn dequantize_q4_k(b: &BlockQ4K, y: &mut [f32]) {
    let (d, dmin) = (f16_get(b.d), f16_get(b.dmin));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &b.scales);
        let d1 = d * sc as f32;
        let m1 = dmin * m as f32;
        let (chunk, shift) = (j / 2, 4 * (j % 2));
        for l in 0..32 {
            let q = (b.qs[chunk * 32 + l] >> shift) & 0xF;
            y[j * 32 + l] = d1 * q as f32 - m1;
        }
    }
}

pub fn dequantize_q5_k(b: &BlockQ5K, y: &mut [f32]) {
    let (d, dmin) = (f16_get(b.d), f16_get(b.dmin));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &b.scales);
        let d1 = d * sc as f32;
        let m1 = dmin * m as f32;
        let (chunk, shift) = (j / 2, 4 * (j % 2));
        for l in 0..32 {
            let q = ((b.qs[chunk * 32 + l] >> shift) & 0xF) | (((b.qh[l] >> j) & 1) << 4);
            y[j * 32 + l] = d1 * q as f32 - m1;
        }
    }
}

pub fn dequantize_q6_k(b: &BlockQ6K, y: &mut [f32]) {
    let d = f16_get(b.d);
    for (e, o) in y.iter_mut().enumerate().take(QK_K) {
        let (h, r) = (e / 128, e % 128);
        let (k, l) = (r / 32, r % 32);
        // Sub-rows 0,1 take low nibbles of ql[0..32], ql[32..64]; sub-rows 2,3 the high nibbles.
        let ql = (b.ql[h * 64 + (k % 2) * 32 + l] >> (4 * (k / 2))) & 0xF;
        let qh = (b.qh[h * 32 + l] >> (2 * k)) & 3;
        let q = (ql | (qh << 4)) as i8 - 32;
        *o = (d * b.scales[e / 16] as f32) * q as f32;
    }
}

// ---------------------------------------------------------------- quantization

/// ggml `make_qkx2_quants`: affine 0..nmax with a min, weighted search over `nstep+1` scales.
/// Returns (scale, -min) and fills `l`.
#[allow(clippy::too_many_arguments)]
fn make_qkx2_quants(x: &[f32], w: &[f32], nmax: i32, l: &mut [u8], rmin: f32, rdelta: f32, nstep: i32) -> (f32, f32) {
    let n = x.len();
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l.iter_mut().for_each(|v| *v = 0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let li = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = li as u8;
        let diff = scale * li as f32 + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    let mut laux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let li = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = li as u8;
            let lf = li as f32;
            sum_l += w[i] * lf;
            sum_l2 += w[i] * lf * lf;
            sum_xl += w[i] * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                cur_error += w[i] * (diff * diff);
            }
            if cur_error < best_error {
                l[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml `make_qx_quants` with rmse_type 1 and no importance weights (what Q6_K uses): symmetric
/// -nmax..nmax-1, stored offset by nmax; searches 18 scales around nmax/max.
fn make_qx_quants(x: &[f32], nmax: i32, l: &mut [u8]) -> f32 {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.iter_mut().for_each(|v| *v = 0);
        return 0.0;
    }
    let quant = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let lf = quant(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * lf;
            suml2 += w * lf * lf;
        }
        (sumlx, suml2)
    };
    let mut iscale = -(nmax as f32) / max;
    for (o, &v) in l.iter_mut().zip(x) {
        *o = (quant(iscale, v) + nmax) as u8;
    }
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (o, &v) in l.iter_mut().zip(x) {
                *o = (quant(iscale, v) + nmax) as u8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Scales and mins of the 8 sub-blocks of Q4_K/Q5_K, quantized to 6 bits against two f16 super-scales,
/// then the element levels recomputed against the stored (rounded) scales, as ggml does.
fn quantize_k_scales(x: &[f32], nmax: i32, rmin: f32, nstep: i32, scales_out: &mut [u8; 12], l: &mut [u8; QK_K]) -> (F16Bytes, F16Bytes) {
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    let mut weights = [0f32; 32];
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (s, m) = make_qkx2_quants(xs, &weights, nmax, &mut l[32 * j..32 * j + 32], rmin, 0.1, nstep);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    *scales_out = [0; 12];
    for j in 0..8 {
        // ggml stores nearest_int into a uint8_t before MIN(63, .): keep that wrap.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            scales_out[j] = ls;
            scales_out[j + 4] = lm;
        } else {
            scales_out[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            scales_out[j - 4] |= (ls >> 4) << 6;
            scales_out[j] |= (lm >> 4) << 6;
        }
    }
    let d = f16_put(max_scale / 63.0);
    let dmin = f16_put(max_min / 63.0);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, scales_out);
        let dj = f16_get(d) * sc as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = f16_get(dmin) * m as f32;
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    (d, dmin)
}

pub fn quantize_q4_k(x: &[f32], b: &mut BlockQ4K) {
    let mut l = [0u8; QK_K];
    let (d, dmin) = quantize_k_scales(x, 15, -1.0, 20, &mut b.scales, &mut l);
    b.d = d;
    b.dmin = dmin;
    for c in 0..4 {
        for i in 0..32 {
            b.qs[c * 32 + i] = l[c * 64 + i] | (l[c * 64 + i + 32] << 4);
        }
    }
}

pub fn quantize_q5_k(x: &[f32], b: &mut BlockQ5K) {
    let mut l = [0u8; QK_K];
    let (d, dmin) = quantize_k_scales(x, 31, -0.5, 15, &mut b.scales, &mut l);
    b.d = d;
    b.dmin = dmin;
    b.qh = [0; 32];
    for c in 0..4 {
        for i in 0..32 {
            let (l1, l2) = (l[c * 64 + i], l[c * 64 + i + 32]);
            b.qh[i] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
            b.qs[c * 32 + i] = (l1 & 0xF) | ((l2 & 0xF) << 4);
        }
    }
}

pub fn quantize_q6_k(x: &[f32], b: &mut BlockQ6K) {
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for ib in 0..16 {
        let s = make_qx_quants(&x[16 * ib..16 * ib + 16], 32, &mut l[16 * ib..16 * ib + 16]);
        scales[ib] = s;
        if s.abs() > max_abs_scale {
            max_abs_scale = s.abs();
            max_scale = s;
        }
    }
    *b = BlockQ6K { ql: [0; 128], qh: [0; 64], scales: [0; 16], d: f16_put(0.0) };
    if max_abs_scale < GROUP_MAX_EPS {
        return;
    }
    let iscale = -128.0 / max_scale;
    b.d = f16_put(1.0 / iscale);
    for (out, s) in b.scales.iter_mut().zip(&scales) {
        *out = nearest_int(iscale * s).min(127) as i8;
    }
    for j in 0..16 {
        let d = f16_get(b.d) * b.scales[j] as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-32, 31) + 32) as u8;
        }
    }
    for h in 0..2 {
        let (lh, ql, qh) = (&l[h * 128..h * 128 + 128], &mut b.ql[h * 64..h * 64 + 64], &mut b.qh[h * 32..h * 32 + 32]);
        for i in 0..32 {
            let (q1, q2, q3, q4) = (lh[i], lh[i + 32], lh[i + 64], lh[i + 96]);
            ql[i] = (q1 & 0xF) | ((q3 & 0xF) << 4);
            ql[i + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4);
            qh[i] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
    }
}
