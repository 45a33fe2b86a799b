// Q4_0 in the aligned GPU layout (5 words per 32 weights):
// word 0 = f16 d (+pad), words 1..4 = qs[16]; element j is the low nibble of qs[j],
// element j+16 the high nibble; x = d * (q - 8).
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 5u) + kb) * 5u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    //#unroll i 4
    o[{i}] = d * (bytes_masked(W[b + 1u + {i}u], 15u) - 8.0);
    o[4 + {i}] = d * (bytes_masked(W[b + 1u + {i}u] >> 4u, 15u) - 8.0);
    //#end
    return o;
}
