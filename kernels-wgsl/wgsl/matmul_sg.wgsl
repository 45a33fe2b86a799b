// y = act(x W^T + b) on devices with subgroups of 8 or more lanes: the same contract as
// matmul.wgsl (`main`: plain rows, `grouped`: MoE experts), organised so no two lanes load
// the same activation. A workgroup of 64 lanes covers SG_TM rows x 256 columns; all its lanes
// share the rows. Per 32-wide block of k, lane s loads x[row, k0 + 4(s%8) ..+4] of each row
// and the block reaches every lane through subgroupBroadcast; each lane decodes only its own
// SG_TN weight rows. Why: on CPU adapters (lavapipe) every storage load is a per-lane scalar
// loop, so the portable kernel's 8-fold redundant x loads were most of its time; on GPUs the
// broadcast replaces shared-memory staging without a barrier.
//#include common
//#include WEIGHT
//#include matmul_io

const SG_TM: u32 = 16u;
const SG_TN: u32 = 4u;
const NONE: u32 = 0xffffffffu;

// acc[r][c] = sum_k x[xb[r] + k] * w[wr[c], k]. Every lane must call it (broadcasts need
// them all): callers clamp rows and columns past the edges and skip them when storing.
fn tile(xb: array<u32, 16>, wr: array<u32, 4>, lane: u32) -> array<vec4<f32>, 16> {
    var acc: array<vec4<f32>, 16>;
    let nkb = (P.k + 31u) / 32u;
    let part = (lane & 7u) * 4u;
    for (var kb = 0u; kb < nkb; kb++) {
        let k0 = kb * 32u;
        let kn = min(32u, P.k - k0);
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
    return acc;
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
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
    let acc = tile(xb, wr, lane);
    //#unroll r 16
    //#unroll c 4
    if (m0 + {r}u < P.m && c0 + {c}u * 64u < P.n) { store(m0 + {r}u, c0 + {c}u * 64u, acc[{r}][{c}]); }
    //#end
    //#end
}

// As matmul.wgsl's `grouped`: rows are positions in the per-expert lists SEG[e]..SEG[e+1]
// (multiples of MATMUL_TILE, a multiple of SG_TM, so a tile never straddles two experts)
// holding slots (token*2 + k) or NONE; expert e uses weight rows e*n .. e*n+n; tiles past
// SEG[n_experts] exit at once (a whole workgroup: no lane is left without its subgroup).
@compute @workgroup_size(64, 1, 1)
fn grouped(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
           @builtin(subgroup_invocation_id) lane: u32) {
    let p0 = wg.y * SG_TM;
    if (p0 >= SEG[P.n_experts]) { return; }
    var e = 0u;
    for (var i = 1u; i < P.n_experts; i++) { if (SEG[i] <= p0) { e = i; } }
    let c0 = wg.x * 64u * SG_TN + li;
    var slot: array<u32, 16>;
    var xb: array<u32, 16>;
    //#unroll r 16
    slot[{r}] = ROWS[p0 + {r}u];
    xb[{r}] = P.x_off + select(p0 + {r}u, select(slot[{r}], 0u, slot[{r}] == NONE) >> 1u, (P.gather & 1u) != 0u) * P.x_stride;
    //#end
    var wr: array<u32, 4>;
    //#unroll c 4
    wr[{c}] = e * P.n + min(c0 + {c}u * 64u, P.n - 1u);
    //#end
    let acc = tile(xb, wr, lane);
    //#unroll r 16
    //#unroll c 4
    if (slot[{r}] != NONE && c0 + {c}u * 64u < P.n) {
        store(select(p0 + {r}u, slot[{r}], (P.gather & 2u) != 0u), c0 + {c}u * 64u, acc[{r}][{c}]);
    }
    //#end
    //#end
}
