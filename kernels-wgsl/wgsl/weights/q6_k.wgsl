// Q6_K in the aligned GPU layout (53 words per 256 weights: the 210-byte block plus 2 pad
// bytes): ql[128] words 0..31, qh[64] words 32..47, int8 scales[16] words 48..51,
// f16 d in word 52. Sub-block j = 4*h + p (half h, part p) of 32:
// q = (nibble p>=2 ? hi : lo of ql[64h + 32(p&1) + l]) | ((qh[32h + l] >> 2p) & 3) << 4,
// x = d * scales[8h + 2p + l/16] * (q - 32).
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 8u) + (kb >> 3u)) * 53u;
    let j = kb & 7u;
    let h = j >> 2u;
    let p = j & 3u;
    let d = f16_bits_to_f32(W[b + 52u] & 0xffffu);
    let sw = W[b + 48u + ((8u * h + 2u * p) >> 2u)];
    let sb = (2u * p) & 3u;
    let s0 = d * i8x4(sw)[sb];
    let s1 = d * i8x4(sw)[sb + 1u];
    let ql = b + 16u * h + 8u * (p & 1u);
    let qh = b + 32u + 8u * h;
    let lshift = (p >> 1u) * 4u;
    let hshift = 2u * p;
    //#unroll i 8
    o[{i}] = select(s1, s0, {i}u < 4u) * (bytes_masked(W[ql + {i}u] >> lshift, 15u) + 16.0 * bytes_masked(W[qh + {i}u] >> hshift, 3u) - 32.0);
    //#end
    return o;
}
