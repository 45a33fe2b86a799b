// Q5_0 in the aligned GPU layout (6 words per 32 weights): word 0 = f16 d (+pad),
// word 1 = qh (bit j is the 5th bit of element j), words 2..5 = qs[16]; x = d * (q - 16).
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 5u) + kb) * 6u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    let qh = W[b + 1u];
    //#unroll i 4
    o[{i}] = d * (bytes_masked(W[b + 2u + {i}u], 15u) + 16.0 * bits4(qh, {i}u * 4u) - 16.0);
    o[4 + {i}] = d * (bytes_masked(W[b + 2u + {i}u] >> 4u, 15u) + 16.0 * bits4(qh, 16u + {i}u * 4u) - 16.0);
    //#end
    return o;
}
