// Q5_1 (already aligned, 6 words per 32 weights): word 0 = f16 d | f16 m << 16,
// word 1 = qh, words 2..5 = qs[16]; x = d * q + m.
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 5u) + kb) * 6u;
    let dm = f16x2(W[b]);
    let qh = W[b + 1u];
    //#unroll i 4
    o[{i}] = dm.x * (bytes_masked(W[b + 2u + {i}u], 15u) + 16.0 * bits4(qh, {i}u * 4u)) + dm.y;
    o[4 + {i}] = dm.x * (bytes_masked(W[b + 2u + {i}u] >> 4u, 15u) + 16.0 * bits4(qh, 16u + {i}u * 4u)) + dm.y;
    //#end
    return o;
}
