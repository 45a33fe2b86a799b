// Direct conv2d on NCHW (batch 1) for the VAE and AlignNet; weights in a float format.
//#include common
//#include WEIGHT
//#include conv_io

fn x_at(row: u32, ix: i32) -> f32 {
    return select(0.0, f32(X[row + u32(clamp(ix, 0, i32(P.w) - 1))]), ix >= 0 && ix < i32(P.w));
}

// Each invocation: 4 output channels x 4 consecutive output columns of one output row.
// The channel and column loops are written out (lavapipe's loop limit).
@compute @workgroup_size(16, 4, 1)
fn conv2d(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ox0 = gid.x * 4u;
    let oy = gid.y;
    let co0 = gid.z * 4u;
    if (ox0 >= P.ow || oy >= P.oh || co0 >= P.cout) { return; }
    var acc: array<vec4<f32>, 4>;
    let plane = P.h * P.w;
    let ix0 = i32(ox0 * P.stride) - i32(P.pad_l);
    let s = i32(P.stride);
    var wrow: array<u32, 4>;
    //#unroll c 4
    wrow[{c}] = P.w_off + (P.co_base + min(co0 + {c}u, P.cout - 1u)) * P.w_co_stride;
    //#end
    for (var ci = 0u; ci < P.cin; ci++) {
        let xc = P.x_off + ci * plane;
        for (var ky = 0u; ky < P.ks; ky++) {
            let iy = i32(oy * P.stride + ky) - i32(P.pad_t);
            if (iy < 0 || iy >= i32(P.h)) { continue; }
            let xr = xc + u32(iy) * P.w;
            let wk = (ci * P.ks + ky) * P.ks;
            for (var kx = 0u; kx < P.ks; kx++) {
                let ix = ix0 + i32(kx);
                let xv = vec4<f32>(x_at(xr, ix), x_at(xr, ix + s), x_at(xr, ix + 2 * s), x_at(xr, ix + 3 * s));
                //#unroll c 4
                acc[{c}] = fma(vec4<f32>(w_elem(wrow[{c}] + wk + kx)), xv, acc[{c}]);
                //#end
            }
        }
    }
    for (var c = 0u; c < min(4u, P.cout - co0); c++) {
        for (var j = 0u; j < min(4u, P.ow - ox0); j++) { store(co0 + c, oy * P.ow + ox0 + j, acc[c][j]); }
    }
}
