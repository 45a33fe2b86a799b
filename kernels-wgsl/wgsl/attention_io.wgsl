// Parameters, bindings, row loaders and the per-row key range shared by the attention kernels
// (attention, attention_sg).

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

// Dims 4c..4c+3 of a row at `b` (zeros past d).
fn q4(b: u32, c: u32) -> vec4<f32> {
    let i = b + min(4u * c, P.d - 4u);
    return select(vec4<f32>(0.0), vec4<f32>(f32(Q[i]), f32(Q[i + 1u]), f32(Q[i + 2u]), f32(Q[i + 3u])), 4u * c < P.d);
}
fn k4(b: u32, c: u32) -> vec4<f32> {
    let i = b + min(4u * c, P.d - 4u);
    return select(vec4<f32>(0.0), vec4<f32>(f32(K[i]), f32(K[i + 1u]), f32(K[i + 2u]), f32(K[i + 3u])), 4u * c < P.d);
}
fn v4(b: u32, c: u32) -> vec4<f32> {
    let i = b + min(4u * c, P.d - 4u);
    return select(vec4<f32>(0.0), vec4<f32>(f32(V[i]), f32(V[i + 1u]), f32(V[i + 2u]), f32(V[i + 3u])), 4u * c < P.d);
}

// Which keys a query row attends to: keys below `lim` (causal), those the mask keeps unless
// `masked` was cleared because it hides them all (then the MaskedRows policy applies:
// `uniform_row` = equal weights).
struct RowKeys { lim: u32, masked: bool, uniform_row: bool }

fn row_keys(i: u32) -> RowKeys {
    let row_ok = i < P.lq;
    let causal = (P.flags & 1u) != 0u;
    var masked = (P.flags & 2u) != 0u;
    var lim = P.lk;
    if (causal) { lim = min(P.lk, i + P.causal_shift + 1u); }
    var uniform_row = false;
    if (row_ok && (causal || masked)) {
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
    return RowKeys(lim, masked, uniform_row);
}

// Keys any row of workgroup `wg_x` (of `wg` rows) may need; with a key mask a fully masked row
// needs all. Kept apart from row_keys: it is uniform, and the key loops around barriers and
// broadcasts must be (browsers' WGSL compilers check).
fn workgroup_keys(wg_x: u32, wg: u32) -> u32 {
    if ((P.flags & 1u) != 0u && (P.flags & 2u) == 0u) { return min(P.lk, wg_x * wg + wg + P.causal_shift); }
    return P.lk;
}
