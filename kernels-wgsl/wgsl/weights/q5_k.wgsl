// Q5_K (aligned, 44 words per 256 weights): word 0 = d | dmin << 16, words 1..3 = scales,
// words 4..11 = qh[32], words 12..43 = qs[128]. Sub-block j: nibble as Q4_K, 5th bit is
// bit j of qh[l]; x = d*sc*q - dmin*m.
//#include weights/kquant_scales
fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let b = (row * (k >> 8u) + (kb >> 3u)) * 44u;
    let j = kb & 7u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    let dmin = f16_bits_to_f32(W[b] >> 16u);
    let sm = kq_scale_min(array<u32, 3>(W[b + 1u], W[b + 2u], W[b + 3u]), j);
    let ds = d * sm.x;
    let dm = dmin * sm.y;
    let qb = b + 12u + (j >> 1u) * 8u;
    let shift = (j & 1u) * 4u;
    for (var i = 0u; i < 8u; i++) {
        let q = W[qb + i] >> shift;
        let h = W[b + 4u + i] >> j;
        for (var t = 0u; t < 4u; t++) {
            let v = ((q >> (8u * t)) & 15u) | (((h >> (8u * t)) & 1u) << 4u);
            (*out)[4u * i + t] = ds * f32(v) - dm;
        }
    }
}
