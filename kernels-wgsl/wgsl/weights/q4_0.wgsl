// Q4_0 in the aligned GPU layout (5 words per 32 weights):
// word 0 = f16 d (+pad), words 1..4 = qs[16]; element j is the low nibble of qs[j],
// element j+16 the high nibble; x = d * (q - 8).
fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let b = (row * (k >> 5u) + kb) * 5u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    for (var i = 0u; i < 4u; i++) {
        let q = W[b + 1u + i];
        for (var j = 0u; j < 4u; j++) {
            let byte = u8_at(q, j);
            (*out)[4u * i + j] = d * (f32(byte & 15u) - 8.0);
            (*out)[16u + 4u * i + j] = d * (f32(byte >> 4u) - 8.0);
        }
    }
}
