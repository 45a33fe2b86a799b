// Weights stored as f32, row-major [rows, k].
fn w_elem(i: u32) -> f32 {
    return bitcast<f32>(W[i]);
}

fn w_decode32(row: u32, kb: u32, k: u32, out: ptr<function, array<f32, 32>>) {
    let k0 = kb * 32u;
    let base = row * k + k0;
    if (k0 + 32u <= k) {
        for (var i = 0u; i < 32u; i++) { (*out)[i] = bitcast<f32>(W[base + i]); }
    } else {
        for (var i = 0u; i < 32u; i++) {
            (*out)[i] = select(0.0, bitcast<f32>(W[base + min(i, k - k0 - 1u)]), k0 + i < k);
        }
    }
}
