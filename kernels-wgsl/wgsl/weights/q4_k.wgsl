// Q4_K (aligned, 36 words per 256 weights): word 0 = f16 d | f16 dmin << 16,
// words 1..3 = 12 packed scale bytes, words 4..35 = qs[128]. Sub-block j of 32 uses the
// 32 bytes of chunk j/2, low nibbles for even j, high for odd; x = d*sc*q - dmin*m.
//#include weights/kquant_scales
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 8u) + (kb >> 3u)) * 36u;
    let j = kb & 7u;
    let dd = f16x2(W[b]);
    let sm = kq_scale_min(array<u32, 3>(W[b + 1u], W[b + 2u], W[b + 3u]), j);
    let ds = dd.x * sm.x;
    let dm = dd.y * sm.y;
    let qb = b + 4u + (j >> 1u) * 8u;
    let shift = (j & 1u) * 4u;
    //#unroll i 8
    o[{i}] = ds * bytes_masked(W[qb + {i}u] >> shift, 15u) - dm;
    //#end
    return o;
}
