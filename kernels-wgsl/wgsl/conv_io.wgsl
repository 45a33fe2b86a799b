// Parameters, bindings and the output store shared by the conv kernels (conv, conv_sg).

struct Params {
    cin: u32, h: u32, w: u32, cout: u32,
    oh: u32, ow: u32, ks: u32, stride: u32,
    pad_t: u32, pad_l: u32, flags: u32, x_off: u32,  // flags: bit0 bias, bit1 accumulate, bits 8..15 activation
    y_off: u32, w_off: u32, w_co_stride: u32, co_base: u32, // co_base: first output channel of this launch
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<In>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<Out>;

// y[co, pixel] (co counted from this launch's first channel) with bias, activation and
// accumulation.
fn store(co: u32, pixel: u32, v: f32) {
    var r = v;
    if ((P.flags & 1u) != 0u) { r += B[P.co_base + co]; }
    r = activate(r, (P.flags >> 8u) & 255u);
    let yi = P.y_off + co * P.oh * P.ow + pixel;
    if ((P.flags & 2u) != 0u) { r += f32(Y[yi]); }
    Y[yi] = to_out(r);
}
