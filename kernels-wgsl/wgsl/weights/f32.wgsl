// Weights stored as f32, row-major [rows, k].
fn w_elem(i: u32) -> f32 {
    return bitcast<f32>(W[i]);
}

// Element i of a row block, 0 past k.
fn w_guard(base: u32, i: u32, avail: u32) -> f32 {
    return w_elem(base + min(i, avail - 1u)) * f32(i < avail);
}

// The 32 weights from element `base` as 8 vectors (zeros from `avail` on): a row block of
// a matmul, or a run of a conv kernel slice.
fn w_run32(base: u32, avail: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    if (avail >= 32u) {
        //#unroll i 8
        o[{i}] = vec4<f32>(bitcast<f32>(W[base + {i}u * 4u]), bitcast<f32>(W[base + {i}u * 4u + 1u]), bitcast<f32>(W[base + {i}u * 4u + 2u]), bitcast<f32>(W[base + {i}u * 4u + 3u]));
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
