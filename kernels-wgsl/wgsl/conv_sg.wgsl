// Conv2d as an implicit GEMM on devices with subgroups of 8 or more lanes: the same contract
// as conv.wgsl, organised like matmul_sg.wgsl with output pixels as rows, output channels as
// columns and k = (ci, ky, kx) in the weight's own order. A workgroup of 64 lanes covers 32
// pixels x 256 channels; per 32-wide block of k, lane s gathers the input values of k0+4(s%8)
// ..+4 for each pixel (zero padding included) and subgroupBroadcast hands them to every lane.
// Each lane reads only its own channels' weight runs. Why: the direct kernel re-reads every
// weight in every lane and ran at a tenth of the matmul's speed on lavapipe. 32 pixels rather
// than 16 (as in matmul_sg) halve the weight loads per FLOP: 1.35x on lavapipe (3x3 conv, 256
// channels), at 128 accumulators + 128 gathered values per lane.
//#include common
//#include WEIGHT
//#include conv_io

const CT_P: u32 = 32u; // pixels per workgroup (also the //#unroll r counts below and ops/conv.rs)

@compute @workgroup_size(64, 1, 1)
fn conv2d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
    // Every lane runs to the end (broadcasts need them all): pixels and channels past the
    // edges are clamped for loading and skipped when storing.
    let oplane = P.oh * P.ow;
    let p0 = (wg.z * nwg.y + wg.y) * CT_P; // pixel tiles over y and z (65,535 per dimension)
    let c0 = wg.x * 256u + li;
    let kk = P.ks * P.ks;
    let kt = P.cin * kk;
    var iy0: array<i32, CT_P>;
    var ix0: array<i32, CT_P>;
    //#unroll r 32
    {
        let p = min(p0 + {r}u, oplane - 1u);
        iy0[{r}] = i32((p / P.ow) * P.stride) - i32(P.pad_t);
        ix0[{r}] = i32((p % P.ow) * P.stride) - i32(P.pad_l);
    }
    //#end
    var wb: array<u32, 4>;
    //#unroll c 4
    wb[{c}] = P.w_off + (P.co_base + min(c0 + {c}u * 64u, P.cout - 1u)) * P.w_co_stride;
    //#end
    let part = (lane & 7u) * 4u;
    var acc: array<vec4<f32>, CT_P>; // acc[pixel][c]
    let nkb = (kt + 31u) / 32u;
    for (var kb = 0u; kb < nkb; kb++) {
        let k0 = kb * 32u;
        // This lane's 4 values of k: input channel plane offset and kernel offsets (the same
        // for every pixel), or none past k.
        var xo: array<u32, 4>;
        var dy: array<i32, 4>;
        var dx: array<i32, 4>;
        var kin: array<bool, 4>;
        //#unroll e 4
        {
            let k = k0 + part + {e}u;
            let r = k % kk;
            kin[{e}] = k < kt;
            xo[{e}] = P.x_off + min(k / kk, P.cin - 1u) * P.h * P.w;
            dy[{e}] = i32(r / P.ks);
            dx[{e}] = i32(r % P.ks);
        }
        //#end
        var xl: array<vec4<f32>, CT_P>;
        //#unroll r 32
        //#unroll e 4
        {
            let iy = iy0[{r}] + dy[{e}];
            let ix = ix0[{r}] + dx[{e}];
            let ok = kin[{e}] && iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w);
            let xi = xo[{e}] + u32(clamp(iy, 0, i32(P.h) - 1)) * P.w + u32(clamp(ix, 0, i32(P.w) - 1));
            xl[{r}][{e}] = select(0.0, f32(X[xi]), ok);
        }
        //#end
        //#end
        //#unroll c 4
        {
            let w = w_run32(wb[{c}] + k0, kt - k0);
            //#unroll i 8
            //#unroll r 32
            acc[{r}][{c}] += dot(subgroupBroadcast(xl[{r}], {i}u), w[{i}]);
            //#end
            //#end
        }
        //#end
    }
    //#unroll r 32
    //#unroll c 4
    if (p0 + {r}u < oplane && c0 + {c}u * 64u < P.cout) { store(c0 + {c}u * 64u, p0 + {r}u, acc[{r}][{c}]); }
    //#end
    //#end
}
