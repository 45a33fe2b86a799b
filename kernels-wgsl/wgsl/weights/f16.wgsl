// Weights stored as IEEE f16 (decoded with integer ops: exact, subnormals too; unpack2x16float needs a
// capability some backends lack and may flush subnormals), row-major [rows, k], two per u32 word (low half first).
fn w_elem(i: u32) -> f32 {
    return f16_bits_to_f32((W[i >> 1u] >> (16u * (i & 1u))) & 0xffffu);
}

fn w_guard(base: u32, i: u32, avail: u32) -> f32 {
    return w_elem(base + min(i, avail - 1u)) * f32(i < avail);
}

// The 32 weights from element `base` as 8 vectors (zeros from `avail` on): a row block of
// a matmul, or a run of a conv kernel slice.
fn w_run32(base: u32, avail: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    if (avail >= 32u && (base & 1u) == 0u) {
        let wb = base >> 1u;
        //#unroll i 8
        o[{i}] = vec4<f32>(f16x2(W[wb + {i}u * 2u]), f16x2(W[wb + {i}u * 2u + 1u]));
        //#end
    } else if (avail >= 32u) {
        // an odd start (conv kernel slices): the 17 words holding the 32 halves, each loaded once
        let wb = base >> 1u;
        var ws: array<u32, 17>;
        //#unroll i 17
        ws[{i}] = W[wb + {i}u];
        //#end
        //#unroll i 8
        o[{i}] = vec4<f32>(f16_bits_to_f32(ws[{i}u * 2u] >> 16u), f16x2(ws[{i}u * 2u + 1u]), f16_bits_to_f32(ws[{i}u * 2u + 2u] & 0xffffu));
        //#end
    } else {
        //#unroll i 8
        o[{i}] = vec4<f32>(w_guard(base, {i}u * 4u, avail), w_guard(base, {i}u * 4u + 1u, avail), w_guard(base, {i}u * 4u + 2u, avail), w_guard(base, {i}u * 4u + 3u, avail));
        //#end
    }
    return o;
}

// The 32 weights W[row, 32*kb .. 32*kb+32) as 8 vectors (zeros past k).
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    return w_run32(row * k + kb * 32u, k - kb * 32u);
}
