// y = act(x W^T + b), W stored in any weight format (decoded by the included `w_decode32`).
// Each invocation computes a TM x TN register tile; a workgroup covers 32 x 32 outputs.
// `main`: plain rows. `grouped`: MoE experts, rows listed per expert (see moe.wgsl).
//#include common
//#include WEIGHT
//#include matmul_io

const TM: u32 = 4u;
const TN: u32 = 4u;
const WG: u32 = 8u;
const NONE: u32 = 0xffffffffu;

// x[row, k0 .. k0+32) as 8 vectors (zeros past k).
fn load_x(row: u32, k0: u32, kn: u32) -> array<vec4<f32>, 8> {
    var o: array<vec4<f32>, 8>;
    let b = P.x_off + row * P.x_stride + k0;
    //#unroll i 8
    o[{i}] = vec4<f32>(x_at(b, {i}u * 4u, kn), x_at(b, {i}u * 4u + 1u, kn), x_at(b, {i}u * 4u + 2u, kn), x_at(b, {i}u * 4u + 3u, kn));
    //#end
    return o;
}

// acc[r*TN + c] += sum_k x[xr[r], k] * w[wr + min(c, nc-1), k]; per 32-wide block of k the
// x rows are written out and the 4 weight rows loop (5 iterations per block, far inside
// lavapipe's loop limit even at k = 15360; see source.rs).
fn accumulate(xr: array<u32, 4>, wr: u32, nc: u32, acc: ptr<function, array<f32, 16>>) {
    let nkb = (P.k + 31u) / 32u;
    for (var kb = 0u; kb < nkb; kb++) {
        let k0 = kb * 32u;
        let kn = min(32u, P.k - k0);
        let x0 = load_x(xr[0], k0, kn);
        let x1 = load_x(xr[1], k0, kn);
        let x2 = load_x(xr[2], k0, kn);
        let x3 = load_x(xr[3], k0, kn);
        for (var c = 0u; c < TN; c++) {
            let w = w_decode32(wr + min(c, nc - 1u), kb, P.k);
            (*acc)[c] += dot32(x0, w);
            (*acc)[4u + c] += dot32(x1, w);
            (*acc)[8u + c] += dot32(x2, w);
            (*acc)[12u + c] += dot32(x3, w);
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let n0 = (wg.x * WG + lid.x) * TN;
    let m0 = (wg.y * WG + lid.y) * TM;
    if (n0 >= P.n || m0 >= P.m) { return; }
    var xr: array<u32, 4>;
    for (var r = 0u; r < TM; r++) { xr[r] = min(m0 + r, P.m - 1u); }
    var acc: array<f32, 16>;
    accumulate(xr, P.w_row0 + n0, min(TN, P.n - n0), &acc);
    for (var r = 0u; r < min(TM, P.m - m0); r++) {
        for (var c = 0u; c < min(TN, P.n - n0); c++) { store(m0 + r, n0 + c, acc[r * TN + c]); }
    }
}

// Rows are positions in the per-expert lists built by moe.wgsl: SEG[e]..SEG[e+1] (multiples
// of 32, so a workgroup never straddles two experts) hold slots (token*2 + k) or NONE.
// Expert e uses weight rows e*n .. e*n+n. Work is proportional to the routed tokens:
// workgroups past SEG[n_experts] exit at once.
@compute @workgroup_size(8, 8, 1)
fn grouped(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile0 = wg.y * WG * TM;
    if (tile0 >= SEG[P.n_experts]) { return; }
    var e = 0u;
    for (var i = 1u; i < P.n_experts; i++) { if (SEG[i] <= tile0) { e = i; } }
    let n0 = (wg.x * WG + lid.x) * TN;
    if (n0 >= P.n) { return; }
    let p0 = tile0 + lid.y * TM;
    var xr: array<u32, 4>;
    var slot: array<u32, 4>;
    for (var r = 0u; r < TM; r++) {
        slot[r] = ROWS[p0 + r];
        let valid_slot = select(slot[r], 0u, slot[r] == NONE);
        xr[r] = select(p0 + r, valid_slot >> 1u, (P.gather & 1u) != 0u);
    }
    var acc: array<f32, 16>;
    accumulate(xr, e * P.n + n0, min(TN, P.n - n0), &acc);
    for (var r = 0u; r < TM; r++) {
        if (slot[r] == NONE) { continue; }
        let yrow = select(p0 + r, slot[r], (P.gather & 2u) != 0u);
        for (var c = 0u; c < min(TN, P.n - n0); c++) { store(yrow, n0 + c, acc[r * TN + c]); }
    }
}
