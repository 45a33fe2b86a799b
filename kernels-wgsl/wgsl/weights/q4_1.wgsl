// Q4_1 (already aligned, 5 words per 32 weights): word 0 = f16 d | f16 m << 16,
// words 1..4 = qs[16] in Q4_0 nibble order; x = d * q + m.
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 5u) + kb) * 5u;
    let dm = f16x2(W[b]);
    //#unroll i 4
    o[{i}] = dm.x * bytes_masked(W[b + 1u + {i}u], 15u) + dm.y;
    o[4 + {i}] = dm.x * bytes_masked(W[b + 1u + {i}u] >> 4u, 15u) + dm.y;
    //#end
    return o;
}
