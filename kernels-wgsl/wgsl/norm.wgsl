// Row normalisations over the last dimension: RMSNorm (weighted), LayerNorm (optionally
// affine), and FLUX's modulated LayerNorm (1 + scale) * LN(x) + shift. One workgroup per row;
// statistics in f32 with a two-pass variance.
//#include common
//#include wg_reduce

struct Params {
    rows: u32, width: u32, flags: u32, eps: f32,   // flags: bit0 weight, bit1 bias
    x_off: u32, x_stride: u32, y_off: u32, y_stride: u32,
    w_off: u32, b_off: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<In>;
@group(0) @binding(2) var<storage, read> WT: array<f32>;  // weight / scale
@group(0) @binding(3) var<storage, read> BS: array<f32>;  // bias / shift
@group(0) @binding(4) var<storage, read_write> Y: array<Out>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;

fn row_base(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + wg.y * nwg.x;
}

@compute @workgroup_size(64, 1, 1)
fn rms_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = row_base(wg, nwg);
    if (row >= P.rows) { return; }
    let xb = P.x_off + row * P.x_stride;
    var ss = 0.0;
    for (var c = lid.x; c < P.width; c += WG) { let v = f32(X[xb + c]); ss += v * v; }
    let total = reduce_sum(ss, lid.x);
    let r = inverseSqrt(total / f32(P.width) + P.eps);
    let yb = P.y_off + row * P.y_stride;
    for (var c = lid.x; c < P.width; c += WG) {
        var v = f32(X[xb + c]) * r;
        if ((P.flags & 1u) != 0u) { v *= WT[P.w_off + c]; }
        Y[yb + c] = to_out(v);
    }
}

fn ln_stats(xb: u32, lid: u32) -> vec2<f32> {
    var s = 0.0;
    for (var c = lid; c < P.width; c += WG) { s += f32(X[xb + c]); }
    let mean = reduce_sum(s, lid) / f32(P.width);
    var v = 0.0;
    for (var c = lid; c < P.width; c += WG) { let t = f32(X[xb + c]) - mean; v += t * t; }
    let var_ = reduce_sum(v, lid) / f32(P.width);
    return vec2<f32>(mean, inverseSqrt(var_ + P.eps));
}

@compute @workgroup_size(64, 1, 1)
fn layer_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = row_base(wg, nwg);
    if (row >= P.rows) { return; }
    let xb = P.x_off + row * P.x_stride;
    let st = ln_stats(xb, lid.x);
    let yb = P.y_off + row * P.y_stride;
    for (var c = lid.x; c < P.width; c += WG) {
        var v = (f32(X[xb + c]) - st.x) * st.y;
        if ((P.flags & 1u) != 0u) { v *= WT[P.w_off + c]; }
        if ((P.flags & 2u) != 0u) { v += BS[P.b_off + c]; }
        Y[yb + c] = to_out(v);
    }
}

// y = (1 + scale) * LN(x) + shift with non-affine LN; scale = WT[w_off..], shift = BS[b_off..].
@compute @workgroup_size(64, 1, 1)
fn layer_norm_modulate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = row_base(wg, nwg);
    if (row >= P.rows) { return; }
    let xb = P.x_off + row * P.x_stride;
    let st = ln_stats(xb, lid.x);
    let yb = P.y_off + row * P.y_stride;
    for (var c = lid.x; c < P.width; c += WG) {
        let v = (f32(X[xb + c]) - st.x) * st.y;
        Y[yb + c] = to_out(fma(v, 1.0 + WT[P.w_off + c], BS[P.b_off + c]));
    }
}
