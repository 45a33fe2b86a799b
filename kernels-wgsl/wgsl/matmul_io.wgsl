// Parameters, bindings and the output store shared by the matmul kernels (matmul, matmul_sg).

struct Params {
    m: u32, n: u32, k: u32, flags: u32,     // flags: bit0 bias, bit1 accumulate into y, bits 8..15 activation
    x_off: u32, x_stride: u32, y_off: u32, y_stride: u32,
    w_row0: u32, b_off: u32, n_experts: u32, gather: u32, // gather: bit0 x rows via ROWS (slot>>1), bit1 y rows = slot
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<In>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<Out>;
@group(0) @binding(5) var<storage, read> ROWS: array<u32>;
@group(0) @binding(6) var<storage, read> SEG: array<u32>;

// x[b + i] for i < kn, else 0 (the index is clamped, the value masked: one code path for
// whole and partial blocks keeps the written-out loops small).
fn x_at(b: u32, i: u32, kn: u32) -> f32 {
    return f32(X[b + min(i, kn - 1u)]) * f32(i < kn);
}

fn store(row: u32, n: u32, v: f32) {
    var r = v;
    if ((P.flags & 1u) != 0u) { r += B[P.b_off + n]; }
    r = activate(r, (P.flags >> 8u) & 255u);
    let i = P.y_off + row * P.y_stride + n;
    if ((P.flags & 2u) != 0u) { r += f32(Y[i]); }
    Y[i] = to_out(r);
}
