// Q8_0 in the aligned GPU layout (9 words per 32 weights):
// word 0 = f16 d (+2 pad bytes), words 1..8 = int8 q[32]; x = d * q.
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 5u) + kb) * 9u;
    let d = f16_bits_to_f32(W[b] & 0xffffu);
    //#unroll i 8
    o[{i}] = d * i8x4(W[b + 1u + {i}u]);
    //#end
    return o;
}
