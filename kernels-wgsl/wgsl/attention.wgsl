// Flash attention: one invocation per (query row, head), online softmax over the keys, so
// memory never grows with Lq x Lk. A workgroup (64 query rows of one head) stages tiles of
// keys and values in workgroup memory. Q/K/V are read through offsets and token strides, so
// they can live inside one fused qkv buffer. WIDTH (a variant constant) bounds the head dim,
// which must be a multiple of 4; dims go 64 at a time in written-out steps (lavapipe's loop
// limit: measured on lavapipe, about 38,000 keys fit at dim 128, 5,100 at dim 256, 2,900 at
// dim 512; the VAE tiles its mid-block attention below that).
//#include common
//#include attention_io

const WG: u32 = 64u;
const D4: u32 = WIDTH / 4u;
const TK: u32 = 512u / D4; // keys per tile: 16 KiB of K and V tiles at any width
var<workgroup> ks: array<vec4<f32>, 512>;
var<workgroup> vs: array<vec4<f32>, 512>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = wg.x * WG + lid.x;
    let h = wg.y;
    let row_ok = i < P.lq;
    let hk = h / (P.heads / P.kv_heads);
    let rk = row_keys(i);
    let lim = rk.lim;
    let masked = rk.masked;
    let uniform_row = rk.uniform_row;
    let wg_lim = workgroup_keys(wg.x, WG);

    var q: array<vec4<f32>, D4>;
    let qb = P.q_off + min(i, P.lq - 1u) * P.q_stride + h * P.d;
    for (var c = 0u; c < D4; c++) { q[c] = q4(qb, c) * P.scale; }
    var acc: array<vec4<f32>, D4>;
    var m = -1.0e30;
    var l = 0.0;
    for (var j0 = 0u; j0 < wg_lim; j0 += TK) {
        workgroupBarrier();
        for (var e = lid.x; e < TK * D4; e += WG) {
            let j = min(j0 + e / D4, P.lk - 1u);
            ks[e] = k4(P.k_off + j * P.k_stride + hk * P.d, e % D4);
            vs[e] = v4(P.v_off + j * P.v_stride + hk * P.d, e % D4);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let j = j0 + kk;
            if (j >= lim || (masked && MASK[j] == 0u)) { continue; }
            let kb = kk * D4;
            var s = 0.0;
            if (!uniform_row) {
                for (var c0 = 0u; c0 < D4; c0 += CHUNK) {
                    s = s
                    //#unroll u CHUNK
                        + dot(q[c0 + {u}u], ks[kb + c0 + {u}u])
                    //#end
                    ;
                }
            }
            let mn = max(m, s);
            let corr = exp(m - mn);
            let p = exp(s - mn);
            l = l * corr + p;
            m = mn;
            for (var c0 = 0u; c0 < D4; c0 += CHUNK) {
                //#unroll u CHUNK
                acc[c0 + {u}u] = fma(vec4<f32>(p), vs[kb + c0 + {u}u], acc[c0 + {u}u] * corr);
                //#end
            }
        }
    }
    if (!row_ok) { return; }
    let inv = 1.0 / l;
    let ob = P.o_off + i * P.o_stride + h * P.d;
    for (var d = 0u; d < P.d; d++) { O[ob + d] = to_out(acc[d >> 2u][d & 3u] * inv); }
}
