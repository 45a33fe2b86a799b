// Element-wise ops over a [rows, cols] view with offsets and row strides (a stride of 0
// broadcasts a row vector). `map` also serves as copy/cast/slice/concat along tokens.
//#include common

struct Params {
    rows: u32, cols: u32, op: u32, word: u32,
    x_off: u32, x_stride: u32, y_off: u32, y_stride: u32,
    b_off: u32, b_stride: u32, a: f32, b: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<In>;
@group(0) @binding(2) var<storage, read> XB: array<In>;
@group(0) @binding(3) var<storage, read_write> Y: array<Out>;
@group(0) @binding(4) var<storage, read_write> R: array<f32>;
@group(0) @binding(5) var<storage, read> G: array<f32>;
@group(0) @binding(6) var<storage, read_write> U: array<u32>;

const MAP_COPY: u32 = 0u;   // op < 4: activate() codes, 0 = copy/cast
const MAP_AFFINE: u32 = 16u; // a * x + b
const BIN_ADD: u32 = 0u;
const BIN_MUL: u32 = 1u;
const BIN_SUB: u32 = 2u;

fn elem(gid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    let i = flat_index(gid, nwg, 256u);
    return vec2<u32>(i / max(P.cols, 1u), i % max(P.cols, 1u));
}

@compute @workgroup_size(256, 1, 1)
fn map(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rc = elem(gid, nwg);
    if (rc.x >= P.rows) { return; }
    let x = f32(X[P.x_off + rc.x * P.x_stride + rc.y]);
    var v: f32;
    if (P.op == MAP_AFFINE) { v = fma(P.a, x, P.b); } else { v = activate(x, P.op); }
    Y[P.y_off + rc.x * P.y_stride + rc.y] = to_out(v);
}

@compute @workgroup_size(256, 1, 1)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rc = elem(gid, nwg);
    if (rc.x >= P.rows) { return; }
    let a = f32(X[P.x_off + rc.x * P.x_stride + rc.y]);
    let b = f32(XB[P.b_off + rc.x * P.b_stride + rc.y]);
    var v: f32;
    switch P.op {
        case 1u: { v = a * b; }
        case 2u: { v = a - b; }
        default: { v = a + b; }
    }
    Y[P.y_off + rc.x * P.y_stride + rc.y] = to_out(v);
}

// R += gate * x, with R the f32 residual stream; op bit0: gate present (G[b_off + col]),
// otherwise a plain residual add.
@compute @workgroup_size(256, 1, 1)
fn gated_residual(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rc = elem(gid, nwg);
    if (rc.x >= P.rows) { return; }
    var v = f32(X[P.x_off + rc.x * P.x_stride + rc.y]);
    if ((P.op & 1u) != 0u) { v *= G[P.b_off + rc.y]; }
    let i = P.y_off + rc.x * P.y_stride + rc.y;
    R[i] = R[i] + v;
}

// y[r, c] = silu(x[r, c]) * x[r, cols + c]: gate and up projections side by side.
@compute @workgroup_size(256, 1, 1)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let rc = elem(gid, nwg);
    if (rc.x >= P.rows) { return; }
    let xb = P.x_off + rc.x * P.x_stride;
    let v = silu(f32(X[xb + rc.y])) * f32(X[xb + P.cols + rc.y]);
    Y[P.y_off + rc.x * P.y_stride + rc.y] = to_out(v);
}

// U[y_off + i] = word for i < rows * cols (poisoning, zeroing, list init).
@compute @workgroup_size(256, 1, 1)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= P.rows * P.cols) { return; }
    U[P.y_off + i] = P.word;
}
