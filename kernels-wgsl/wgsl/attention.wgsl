// Flash attention: one invocation per (query row, head), online softmax over the keys, so
// memory never grows with Lq x Lk. Q/K/V are read through offsets and token strides, so
// they can live inside one fused qkv buffer. WIDTH (a variant constant) bounds the head dim.
//#include common

struct Params {
    lq: u32, lk: u32, heads: u32, kv_heads: u32,
    d: u32, q_off: u32, q_stride: u32, k_off: u32,
    k_stride: u32, v_off: u32, v_stride: u32, o_off: u32,
    o_stride: u32, flags: u32, causal_shift: u32, scale: f32,
}
// flags: bit0 causal (key j allowed when j <= i + causal_shift), bit1 key padding mask,
// bit2 fully-masked-row policy: 0 = unmask (attend to all keys, as HF's sdpa path on CUDA),
// 1 = uniform (mean of V over all keys, as an all -inf additive mask gives on the CPU).

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<In>;
@group(0) @binding(2) var<storage, read> K: array<In>;
@group(0) @binding(3) var<storage, read> V: array<In>;
@group(0) @binding(4) var<storage, read> MASK: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<Out>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = wg.x * 64u + lid.x;
    let h = wg.y;
    if (i >= P.lq) { return; }
    let hk = h / (P.heads / P.kv_heads);
    let causal = (P.flags & 1u) != 0u;
    var masked = (P.flags & 2u) != 0u;
    var lim = P.lk;
    if (causal) { lim = min(P.lk, i + P.causal_shift + 1u); }
    var uniform_row = false;
    if (causal || masked) {
        var any = false;
        if (masked) {
            for (var j = 0u; j < lim; j++) { if (MASK[j] != 0u) { any = true; break; } }
        } else {
            any = lim > 0u;
        }
        if (!any) {
            lim = P.lk;
            masked = false;
            uniform_row = (P.flags & 4u) != 0u;
        }
    }

    var q: array<f32, WIDTH>;
    let qb = P.q_off + i * P.q_stride + h * P.d;
    for (var d = 0u; d < P.d; d++) { q[d] = f32(Q[qb + d]) * P.scale; }
    var acc: array<f32, WIDTH>;
    var m = -3.0e38;
    var l = 0.0;
    for (var j = 0u; j < lim; j++) {
        if (masked && MASK[j] == 0u) { continue; }
        var s = 0.0;
        if (!uniform_row) {
            let kb = P.k_off + j * P.k_stride + hk * P.d;
            for (var d = 0u; d < P.d; d++) { s = fma(q[d], f32(K[kb + d]), s); }
        }
        if (s > m) {
            let corr = exp(m - s);
            l *= corr;
            for (var d = 0u; d < P.d; d++) { acc[d] *= corr; }
            m = s;
        }
        let p = exp(s - m);
        l += p;
        let vb = P.v_off + j * P.v_stride + hk * P.d;
        for (var d = 0u; d < P.d; d++) { acc[d] = fma(p, f32(V[vb + d]), acc[d]); }
    }
    let inv = 1.0 / l;
    let ob = P.o_off + i * P.o_stride + h * P.d;
    for (var d = 0u; d < P.d; d++) { O[ob + d] = to_out(acc[d] * inv); }
}
