// Weights stored as bfloat16, row-major [rows, k], two per u32 word (low half first).
fn w_elem(i: u32) -> f32 {
    return bf16_bits_to_f32((W[i >> 1u] >> (16u * (i & 1u))) & 0xffffu);
}

fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let k0 = kb * 32u;
    let base = row * k + k0;
    if (k0 + 32u <= k && (base & 1u) == 0u) {
        let wb = base >> 1u;
        for (var i = 0u; i < 16u; i++) {
            let w = W[wb + i];
            (*out)[2u * i] = bitcast<f32>(w << 16u);
            (*out)[2u * i + 1u] = bitcast<f32>(w & 0xffff0000u);
        }
    } else {
        for (var i = 0u; i < 32u; i++) {
            let e = base + min(i, k - k0 - 1u);
            (*out)[i] = select(0.0, w_elem(e), k0 + i < k);
        }
    }
}
