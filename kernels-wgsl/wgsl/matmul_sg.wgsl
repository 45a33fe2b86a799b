// y = act(x W^T + b) on devices with subgroups of 8 or more lanes: the same contract as
// matmul.wgsl's `main`, organised so no two lanes load the same activation.
// A workgroup of 64 lanes covers SG_TM rows x 256 columns; all its lanes share the rows.
// Per 32-wide block of k, lane s loads x[row, k0 + 4(s%8) ..+4] of each row and the block
// reaches every lane through subgroupBroadcast; each lane decodes only its own SG_TN weight
// rows. Why: on CPU adapters (lavapipe) every storage load is a per-lane scalar loop, so the
// portable kernel's 8-fold redundant x loads were most of its time; on GPUs the broadcast
// replaces shared-memory staging without a barrier.
//#include common
//#include WEIGHT
//#include matmul_io

const SG_TM: u32 = 16u;
const SG_TN: u32 = 4u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    // Every lane runs to the end (broadcasts need them all): rows and columns past the
    // edges are clamped for loading and skipped when storing.
    let m0 = wg.y * SG_TM;
    let c0 = wg.x * 64u * SG_TN + li;
    var xb: array<u32, 16>;
    //#unroll r 16
    xb[{r}] = P.x_off + min(m0 + {r}u, P.m - 1u) * P.x_stride;
    //#end
    var wr: array<u32, 4>;
    //#unroll c 4
    wr[{c}] = P.w_row0 + min(c0 + {c}u * 64u, P.n - 1u);
    //#end
    var acc: array<vec4<f32>, 16>; // acc[r][c]
    let nkb = (P.k + 31u) / 32u;
    for (var kb = 0u; kb < nkb; kb++) {
        let k0 = kb * 32u;
        let kn = min(32u, P.k - k0);
        let part = (lane & 7u) * 4u;
        var xl: array<vec4<f32>, 16>;
        //#unroll r 16
        xl[{r}] = vec4<f32>(x_at(xb[{r}] + k0, part, kn), x_at(xb[{r}] + k0, part + 1u, kn),
                            x_at(xb[{r}] + k0, part + 2u, kn), x_at(xb[{r}] + k0, part + 3u, kn));
        //#end
        //#unroll c 4
        {
            let w = w_decode32(wr[{c}], kb, P.k);
            //#unroll i 8
            //#unroll r 16
            acc[{r}][{c}] += dot(subgroupBroadcast(xl[{r}], {i}u), w[{i}]);
            //#end
            //#end
        }
        //#end
    }
    //#unroll r 16
    //#unroll c 4
    if (m0 + {r}u < P.m && c0 + {c}u * 64u < P.n) { store(m0 + {r}u, c0 + {c}u * 64u, acc[{r}][{c}]); }
    //#end
    //#end
}
