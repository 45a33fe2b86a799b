// Q5_0 in the aligned GPU layout (6 words per 32 weights): word 0 = f16 d (+pad),
// word 1 = qh (bit j is the 5th bit of element j), words 2..5 = qs[16]; x = d * (q - 16).
fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let b = (row * (k >> 5u) + kb) * 6u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    let qh = W[b + 1u];
    for (var i = 0u; i < 4u; i++) {
        let q = W[b + 2u + i];
        for (var j = 0u; j < 4u; j++) {
            let e = 4u * i + j;
            let byte = u8_at(q, j);
            let lo = (byte & 15u) | (((qh >> e) & 1u) << 4u);
            let hi = (byte >> 4u) | (((qh >> (e + 16u)) & 1u) << 4u);
            (*out)[e] = d * (f32(lo) - 16.0);
            (*out)[16u + e] = d * (f32(hi) - 16.0);
        }
    }
}
