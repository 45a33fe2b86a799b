// Q6_K in the aligned GPU layout (53 words per 256 weights: the 210-byte block plus 2 pad
// bytes): ql[128] words 0..31, qh[64] words 32..47, int8 scales[16] words 48..51,
// f16 d in word 52. Sub-block j = 4*h + p (half h, part p) of 32:
// q = (nibble p>=2 ? hi : lo of ql[64h + 32(p&1) + l]) | ((qh[32h + l] >> 2p) & 3) << 4,
// x = d * scales[8h + 2p + l/16] * (q - 32).
fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let b = (row * (k >> 8u) + (kb >> 3u)) * 53u;
    let j = kb & 7u;
    let h = j >> 2u;
    let p = j & 3u;
    let d = f16_bits_to_f32(W[b + 52u] & 0xffffu);
    let sw0 = b + 48u + ((8u * h + 2u * p) >> 2u);
    let sb = (8u * h + 2u * p) & 3u;
    let s0 = d * i8_at(W[sw0], sb);
    let s1 = d * i8_at(W[sw0], sb + 1u);
    let ql = b + 16u * h + 8u * (p & 1u);
    let qh = b + 32u + 8u * h;
    let lshift = (p >> 1u) * 4u;
    let hshift = 2u * p;
    for (var i = 0u; i < 8u; i++) {
        let lw = W[ql + i] >> lshift;
        let hw = W[qh + i] >> hshift;
        let sc = select(s1, s0, i < 4u);
        for (var t = 0u; t < 4u; t++) {
            let v = ((lw >> (8u * t)) & 15u) | (((hw >> (8u * t)) & 3u) << 4u);
            (*out)[4u * i + t] = sc * (f32(v) - 32.0);
        }
    }
}
