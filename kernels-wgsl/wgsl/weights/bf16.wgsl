// Weights stored as bfloat16, row-major [rows, k], two per u32 word (low half first).
fn w_elem(i: u32) -> f32 {
    return bf16_bits_to_f32((W[i >> 1u] >> (16u * (i & 1u))) & 0xffffu);
}

fn w_guard(base: u32, i: u32, avail: u32) -> f32 {
    return w_elem(base + min(i, avail - 1u)) * f32(i < avail);
}

fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let k0 = kb * 32u;
    let base = row * k + k0;
    if (k0 + 32u <= k && (base & 1u) == 0u) {
        let wb = base >> 1u;
        //#unroll i 8
        o[{i}] = vec4<f32>(bf16x2(W[wb + {i}u * 2u]), bf16x2(W[wb + {i}u * 2u + 1u]));
        //#end
    } else {
        let avail = k - k0;
        //#unroll i 8
        o[{i}] = vec4<f32>(w_guard(base, {i}u * 4u, avail), w_guard(base, {i}u * 4u + 1u, avail), w_guard(base, {i}u * 4u + 2u, avail), w_guard(base, {i}u * 4u + 3u, avail));
        //#end
    }
    return o;
}
