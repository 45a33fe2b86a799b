// Q5_K (aligned, 44 words per 256 weights): word 0 = d | dmin << 16, words 1..3 = scales,
// words 4..11 = qh[32], words 12..43 = qs[128]. Sub-block j: nibble as Q4_K, 5th bit is
// bit j of qh[l]; x = d*sc*q - dmin*m.
//#include weights/kquant_scales
fn w_decode32(row: u32, kb: u32, k: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = (row * (k >> 8u) + (kb >> 3u)) * 44u;
    let j = kb & 7u;
    let dd = f16x2(W[b]);
    let sm = kq_scale_min(array<u32, 3>(W[b + 1u], W[b + 2u], W[b + 3u]), j);
    let ds = dd.x * sm.x;
    let dm = dd.y * sm.y;
    let qb = b + 12u + (j >> 1u) * 8u;
    let shift = (j & 1u) * 4u;
    //#unroll i 8
    o[{i}] = ds * (bytes_masked(W[qb + {i}u] >> shift, 15u) + 16.0 * bytes_masked(W[b + 4u + {i}u] >> j, 1u)) - dm;
    //#end
    return o;
}
