// Flash attention on devices with subgroups of 8 or more lanes (head dims up to 512): the same
// contract as attention.wgsl, one invocation per (query row, head), online softmax. Lanes of a
// subgroup hold different queries and walk the same keys, so each of 8 lanes loads an eighth
// of a key's and a value's row and subgroupBroadcast hands the rest over: no workgroup
// memory, no barriers, and 8 times fewer loads (on CPU adapters every load is a per-lane loop;
// the portable kernel reads each staged vector once per lane). One loop iteration per key, so
// lavapipe's 65,535-iteration limit allows about 65,000 keys at every width (at 512 a lane
// holds 128 vec4 of q and accumulators, as in the portable kernel).
//#include common
//#include attention_io

const D4: u32 = WIDTH / 4u;
const T: u32 = D4 / 8u; // vectors of a key row each lane loads

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
    // Every lane runs every key (broadcasts need them all); rows past lq are not stored.
    let i = wg.x * 64u + lid.x;
    let h = wg.y;
    let hk = h / (P.heads / P.kv_heads);
    let rk = row_keys(i);
    let wg_lim = workgroup_keys(wg.x, 64u);
    var q: array<vec4<f32>, D4>;
    let qb = P.q_off + min(i, P.lq - 1u) * P.q_stride + h * P.d;
    //#unroll c WIDTH/4
    q[{c}] = q4(qb, {c}u) * P.scale;
    //#end
    var acc: array<vec4<f32>, D4>;
    var m = -1.0e30;
    var l = 0.0;
    let part = lane & 7u;
    let kb = P.k_off + hk * P.d;
    let vb = P.v_off + hk * P.d;
    for (var j = 0u; j < wg_lim; j++) {
        var kl: array<vec4<f32>, T>;
        var vl: array<vec4<f32>, T>;
        //#unroll t WIDTH/32
        kl[{t}] = k4(kb + j * P.k_stride, part + {t}u * 8u);
        vl[{t}] = v4(vb + j * P.v_stride, part + {t}u * 8u);
        //#end
        var s = 0.0;
        //#unroll t WIDTH/32
        //#unroll u 8
        s += dot(q[{t}u * 8u + {u}u], subgroupBroadcast(kl[{t}], {u}u));
        //#end
        //#end
        let keep = j < rk.lim && !(rk.masked && MASK[j] == 0u);
        s = select(s, 0.0, rk.uniform_row);
        let mn = select(m, max(m, s), keep);
        let corr = exp(m - mn);
        let p = select(0.0, exp(s - mn), keep);
        l = l * corr + p;
        m = mn;
        //#unroll t WIDTH/32
        //#unroll u 8
        acc[{t}u * 8u + {u}u] = fma(vec4<f32>(p), subgroupBroadcast(vl[{t}], {u}u), acc[{t}u * 8u + {u}u] * corr);
        //#end
        //#end
    }
    if (i >= P.lq) { return; }
    let inv = 1.0 / l;
    let ob = P.o_off + i * P.o_stride + h * P.d;
    //#unroll c WIDTH/4
    if ({c}u * 4u < P.d) {
        O[ob + {c}u * 4u] = to_out(acc[{c}].x * inv);
        O[ob + {c}u * 4u + 1u] = to_out(acc[{c}].y * inv);
        O[ob + {c}u * 4u + 2u] = to_out(acc[{c}].z * inv);
        O[ob + {c}u * 4u + 3u] = to_out(acc[{c}].w * inv);
    }
    //#end
}
