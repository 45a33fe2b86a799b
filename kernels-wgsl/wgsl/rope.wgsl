// Rotary position embedding, in place on q and k inside a fused qkv buffer.
// Element (token t, part p in {q=0, k=1}, head h, dim d) lives at
//   off + t*stride + p*heads*dim + h*dim + d  (k has kv_heads heads, right after q's).
// `flux`: optional per-head RMSNorm with learned scales (FLUX's QK-norm), then rotation of
// adjacent pairs (2j, 2j+1) by angle pos[axis(j)] * FREQ[j], the three axes of IDS[t] laid
// side by side (axis dims and theta give FREQ, computed on the host in f64).
// `half`: Qwen's rotate-half, pairs (j, j + dim/2), angle POS[t] * FREQ[j].
// Angles use sincos_precise: the WGSL builtins are only 2^-11 accurate.
//#include common

struct Params {
    rows: u32, heads: u32, dim: u32, flags: u32,  // rows = tokens; flags: bit0 QK RMSNorm, bit1 rotate
    off: u32, stride: u32, axis1: u32, axis2: u32,  // pair index where axis 1 / axis 2 start
    eps: f32, kv_heads: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> Y: array<Out>;
@group(0) @binding(2) var<storage, read> POS: array<f32>;   // flux: [rows, 3] ids; half: [rows] positions
@group(0) @binding(3) var<storage, read> FREQ: array<f32>;  // [dim / 2]
@group(0) @binding(4) var<storage, read> NS: array<f32>;    // [2, dim]: q scale, k scale

fn unit(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return flat_index(gid, nwg, 64u);
}

@compute @workgroup_size(64, 1, 1)
fn flux(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // one invocation per (token, part, head)
    let per_token = P.heads + P.kv_heads;
    let u = unit(gid, nwg);
    if (u >= P.rows * per_token) { return; }
    let t = u / per_token;
    let ph = u % per_token;
    let part = select(0u, 1u, ph >= P.heads);
    let base = P.off + t * P.stride + ph * P.dim;
    var r = 1.0;
    if ((P.flags & 1u) != 0u) {
        var ss = 0.0;
        for (var d = 0u; d < P.dim; d++) { let v = f32(Y[base + d]); ss += v * v; }
        r = inverseSqrt(ss / f32(P.dim) + P.eps);
    }
    let rotate = (P.flags & 2u) != 0u;
    for (var j = 0u; j < P.dim / 2u; j++) {
        var x0 = f32(Y[base + 2u * j]) * r;
        var x1 = f32(Y[base + 2u * j + 1u]) * r;
        if ((P.flags & 1u) != 0u) {
            x0 *= NS[part * P.dim + 2u * j];
            x1 *= NS[part * P.dim + 2u * j + 1u];
        }
        if (rotate) {
            let axis = select(select(0u, 1u, j >= P.axis1), 2u, j >= P.axis2);
            let cs = sincos_precise(POS[t * 3u + axis] * FREQ[j]);
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
    // one invocation per (token, part, head, pair)
    let half_dim = P.dim / 2u;
    let u = unit(gid, nwg);
    let per_token = P.heads + P.kv_heads;
    if (u >= P.rows * per_token * half_dim) { return; }
    let j = u % half_dim;
    let rest = u / half_dim;
    let t = rest / per_token;
    let ph = rest % per_token;
    let base = P.off + t * P.stride + ph * P.dim;
    let cs = sincos_precise(POS[t] * FREQ[j]);
    let x0 = f32(Y[base + j]);
    let x1 = f32(Y[base + j + half_dim]);
    Y[base + j] = to_out(x0 * cs.y - x1 * cs.x);
    Y[base + j + half_dim] = to_out(x1 * cs.y + x0 * cs.x);
}
