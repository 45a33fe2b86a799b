// Image ops on NCHW (batch 1) without weights: GroupNorm (statistics, then apply) and
// nearest 2x upsample.
//#include common
//#include wg_reduce

struct Params {
    channels: u32, h: u32, w: u32, groups: u32,
    flags: u32, x_off: u32, y_off: u32, eps: f32,  // flags: bits 8..15 activation
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<In>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<Out>;
@group(0) @binding(4) var<storage, read_write> STATS: array<f32>;

// GroupNorm statistics: one workgroup per group.
// A group's channels are adjacent in NCHW, so its elements are one contiguous range.
const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(256, 1, 1)
fn group_norm_stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let g = wg.x;
    if (g >= P.groups) { return; }
    let n = (P.channels / P.groups) * P.h * P.w;
    let base = P.x_off + g * n;
    var s = 0.0;
    for (var i = lid.x; i < n; i += WG) { s += f32(X[base + i]); }
    let mean = reduce_sum(s, lid.x) / f32(n);
    var v = 0.0;
    for (var i = lid.x; i < n; i += WG) { let t = f32(X[base + i]) - mean; v += t * t; }
    let var_ = reduce_sum(v, lid.x) / f32(n);
    if (lid.x == 0u) {
        STATS[2u * g] = mean;
        STATS[2u * g + 1u] = inverseSqrt(var_ + P.eps);
    }
}

// y = (x - mean) * rstd * gamma[c] + beta[c], gamma/beta = B[0..C], B[C..2C]; optional activation.
@compute @workgroup_size(256, 1, 1)
fn group_norm_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let plane = P.h * P.w;
    let i = flat_index(gid, nwg, 256u);
    if (i >= P.channels * plane) { return; }
    let c = i / plane;
    let g = c / (P.channels / P.groups);
    var v = (f32(X[P.x_off + i]) - STATS[2u * g]) * STATS[2u * g + 1u];
    v = fma(v, B[c], B[P.channels + c]);
    v = activate(v, (P.flags >> 8u) & 255u);
    Y[P.y_off + i] = to_out(v);
}

// Nearest-neighbour 2x upsample of [channels, h, w] -> [channels, 2h, 2w].
@compute @workgroup_size(256, 1, 1)
fn upsample2x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let ow = 2u * P.w;
    let oplane = 4u * P.h * P.w;
    let i = flat_index(gid, nwg, 256u);
    if (i >= P.channels * oplane) { return; }
    let c = i / oplane;
    let r = i % oplane;
    let y = r / ow;
    let x = r % ow;
    Y[P.y_off + i] = to_out(f32(X[P.x_off + c * P.h * P.w + (y / 2u) * P.w + x / 2u]));
}
