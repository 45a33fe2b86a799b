// Rotary position embedding, in place on one set of heads (q or k) of a [tokens, ...] buffer:
// element (token t, head h, dim d) lives at off + t*stride + h*dim + d.
// `flux`: optional per-head RMSNorm with learned scale NS[ns_off..] (FLUX's QK-norm), then
// rotation of adjacent pairs (2j, 2j+1) by pos[axis(j)] * FREQ[j], the three id axes of
// POS[t] laid side by side (FREQ from axis dims and theta, computed on the host in f64).
// `half`: Qwen's rotate-half, pairs (j, j + dim/2), angle POS[t] * FREQ[j].
// Angles use sincos_precise: the WGSL builtins are only 2^-11 accurate.
//#include common

struct Params {
    rows: u32, heads: u32, dim: u32, flags: u32,  // rows = tokens; flags: bit0 RMSNorm, bit1 rotate
    off: u32, stride: u32, axis1: u32, axis2: u32,  // pair index where id axis 1 / axis 2 start
    eps: f32, pos_off: u32, ns_off: u32, _p0: u32,  // pos_off: token index of row 0 in POS
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<Out>;
@group(0) @binding(2) var<storage, read> POS: array<f32>;   // flux: [tokens, 3] ids; half: [tokens]
@group(0) @binding(3) var<storage, read> FREQ: array<f32>;  // [dim / 2]
@group(0) @binding(4) var<storage, read> NS: array<f32>;    // norm scale

@compute @workgroup_size(64, 1, 1)
fn flux(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // one invocation per (token, head)
    let u = flat_index(gid, nwg, 64u);
    if (u >= P.rows * P.heads) { return; }
    let t = u / P.heads;
    let base = P.off + t * P.stride + (u % P.heads) * P.dim;
    let norm = (P.flags & 1u) != 0u;
    var r = 1.0;
    if (norm) {
        var ss = 0.0;
        for (var d = 0u; d < P.dim; d++) { let v = f32(Y[base + d]); ss += v * v; }
        r = inverseSqrt(ss / f32(P.dim) + P.eps);
    }
    let rotate = (P.flags & 2u) != 0u;
    let pos = (P.pos_off + t) * 3u;
    for (var j = 0u; j < P.dim / 2u; j++) {
        var x0 = f32(Y[base + 2u * j]) * r;
        var x1 = f32(Y[base + 2u * j + 1u]) * r;
        if (norm) {
            x0 *= NS[P.ns_off + 2u * j];
            x1 *= NS[P.ns_off + 2u * j + 1u];
        }
        if (rotate) {
            let axis = select(select(0u, 1u, j >= P.axis1), 2u, j >= P.axis2);
            let cs = sincos_precise(POS[pos + axis] * FREQ[j]);
            let y0 = x0 * cs.y - x1 * cs.x;
            let y1 = x1 * cs.y + x0 * cs.x;
            x0 = y0;
            x1 = y1;
        }
        Y[base + 2u * j] = to_out(x0);
        Y[base + 2u * j + 1u] = to_out(x1);
    }
}

@compute @workgroup_size(64, 1, 1)
fn half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // one invocation per (token, head, pair)
    let half_dim = P.dim / 2u;
    let u = flat_index(gid, nwg, 64u);
    if (u >= P.rows * P.heads * half_dim) { return; }
    let j = u % half_dim;
    let th = u / half_dim;
    let t = th / P.heads;
    let base = P.off + t * P.stride + (th % P.heads) * P.dim;
    let cs = sincos_precise(POS[P.pos_off + t] * FREQ[j]);
    let x0 = f32(Y[base + j]);
    let x1 = f32(Y[base + j + half_dim]);
    Y[base + j] = to_out(x0 * cs.y - x1 * cs.x);
    Y[base + j + half_dim] = to_out(x1 * cs.y + x0 * cs.x);
}
