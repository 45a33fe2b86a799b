// Q8_0 in the aligned GPU layout (9 words per 32 weights):
// word 0 = f16 d (+2 pad bytes), words 1..8 = int8 q[32]; x = d * q.
fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let b = (row * (k >> 5u) + kb) * 9u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    for (var i = 0u; i < 8u; i++) {
        let q = W[b + 1u + i];
        for (var j = 0u; j < 4u; j++) { (*out)[4u * i + j] = d * i8_at(q, j); }
    }
}
