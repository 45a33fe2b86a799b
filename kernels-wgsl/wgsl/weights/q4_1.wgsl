// Q4_1 (already aligned, 5 words per 32 weights): word 0 = f16 d | f16 m << 16,
// words 1..4 = qs[16] in Q4_0 nibble order; x = d * q + m.
fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let b = (row * (k >> 5u) + kb) * 5u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    let m = f16_bits_to_f32(W[b] >> 16u);
    for (var i = 0u; i < 4u; i++) {
        let q = W[b + 1u + i];
        for (var j = 0u; j < 4u; j++) {
            let byte = u8_at(q, j);
            (*out)[4u * i + j] = d * f32(byte & 15u) + m;
            (*out)[16u + 4u * i + j] = d * f32(byte >> 4u) + m;
        }
    }
}
