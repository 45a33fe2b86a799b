// Row gather from a weight table of any format (token embeddings): Y[r, :] = W[IDS[r], :].
//#include common
//#include WEIGHT

struct Params {
    rows: u32, k: u32, y_off: u32, y_stride: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> IDS: array<u32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<Out>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    // one invocation per (row, 32-wide chunk)
    let chunks = (P.k + 31u) / 32u;
    let u = flat_index(gid, nwg, 64u);
    if (u >= P.rows * chunks) { return; }
    let r = u / chunks;
    let kb = u % chunks;
    let w = w_decode32(IDS[r], kb, P.k);
    let yb = P.y_off + r * P.y_stride + kb * 32u;
    for (var i = 0u; i < min(32u, P.k - kb * 32u); i++) { Y[yb + i] = to_out(w[i >> 2u][i & 3u]); }
}
