// Reductions: softmax over rows, mean over tokens (columns of a [rows, cols] view), argmax.
//#include common
//#include wg_reduce

struct Params {
    rows: u32, cols: u32, _p0: u32, _p1: u32,
    x_off: u32, x_stride: u32, y_off: u32, y_stride: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<In>;
@group(0) @binding(2) var<storage, read_write> Y: array<Out>;
@group(0) @binding(3) var<storage, read_write> IDX: array<u32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;
var<workgroup> red_i: array<u32, 64>;

@compute @workgroup_size(64, 1, 1)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.x + wg.y * nwg.x;
    if (row >= P.rows) { return; }
    let xb = P.x_off + row * P.x_stride;
    var mx = -3.0e38;
    for (var c = lid.x; c < P.cols; c += WG) { mx = max(mx, f32(X[xb + c])); }
    mx = reduce_max(mx, lid.x);
    var s = 0.0;
    for (var c = lid.x; c < P.cols; c += WG) { s += exp(f32(X[xb + c]) - mx); }
    let inv = 1.0 / reduce_sum(s, lid.x);
    let yb = P.y_off + row * P.y_stride;
    for (var c = lid.x; c < P.cols; c += WG) { Y[yb + c] = to_out(exp(f32(X[xb + c]) - mx) * inv); }
}

// Y[y_off + c] = mean over rows of X[r, c].
@compute @workgroup_size(64, 1, 1)
fn mean_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= P.cols) { return; }
    var s = 0.0;
    for (var r = 0u; r < P.rows; r++) { s += f32(X[P.x_off + r * P.x_stride + c]); }
    Y[P.y_off + c] = to_out(s / f32(P.rows));
}

// IDX[y_off + row] = first index of the largest value of the row.
@compute @workgroup_size(64, 1, 1)
fn argmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.x + wg.y * nwg.x;
    if (row >= P.rows) { return; }
    let xb = P.x_off + row * P.x_stride;
    var best = -3.0e38;
    var bi = 0xffffffffu;
    for (var c = lid.x; c < P.cols; c += WG) {
        let v = f32(X[xb + c]);
        if (v > best || bi == 0xffffffffu) { best = v; bi = c; }
    }
    red[lid.x] = best;
    red_i[lid.x] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid.x < s) {
            let ov = red[lid.x + s];
            let oi = red_i[lid.x + s];
            let take = oi != 0xffffffffu && (red_i[lid.x] == 0xffffffffu || ov > red[lid.x] ||
                       (ov == red[lid.x] && oi < red_i[lid.x]));
            if (take) { red[lid.x] = ov; red_i[lid.x] = oi; }
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) { IDX[P.y_off + row] = red_i[0]; }
}
