// Task-aware MoE-LoRA routing and sparse dispatch (X2Edit): per token, softmax over all
// experts' gate logits, top-2 without renormalisation; then per-expert counts, padded
// prefix offsets, token lists, the grouped matmuls of matmul.wgsl, and a weighted combine.
// Slots are token*2 + k (k = 0, 1: first and second choice). Results land in per-slot rows
// and are summed in a fixed order, so the output is deterministic although list order is not.
//#include common

struct Params {
    tokens: u32, experts: u32, tile: u32, cols: u32,
    l_off: u32, l_stride: u32, y_off: u32, y_stride: u32,
    expert: u32, _p0: u32, _p1: u32, _p2: u32,  // expert: combine_dense's expert
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> LOGITS: array<f32>;          // [tokens, experts]
@group(0) @binding(2) var<storage, read_write> SEL: array<u32>;       // [tokens * 2] expert ids
@group(0) @binding(3) var<storage, read_write> WGT: array<f32>;       // [tokens * 2] softmax weights
@group(0) @binding(4) var<storage, read_write> COUNT: array<atomic<u32>>; // [experts] (zeroed before top2)
@group(0) @binding(5) var<storage, read_write> SEG: array<u32>;       // [experts + 1]
@group(0) @binding(6) var<storage, read_write> CURSOR: array<atomic<u32>>; // [experts]
@group(0) @binding(7) var<storage, read_write> ROWS: array<u32>;      // [max padded rows], NONE-filled
@group(0) @binding(8) var<storage, read> SLOTS: array<In>;            // [tokens * 2, cols]
@group(0) @binding(9) var<storage, read_write> Y: array<Out>;

@compute @workgroup_size(64, 1, 1)
fn top2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat_index(gid, nwg, 64u);
    if (t >= P.tokens) { return; }
    let lb = P.l_off + t * P.l_stride;
    var mx = -3.0e38;
    for (var e = 0u; e < P.experts; e++) { mx = max(mx, LOGITS[lb + e]); }
    var sum = 0.0;
    var b0 = 0u;
    var b1 = 0u;
    var v0 = -1.0;
    var v1 = -1.0;
    for (var e = 0u; e < P.experts; e++) {
        let p = exp(LOGITS[lb + e] - mx);
        sum += p;
        if (p > v0) { v1 = v0; b1 = b0; v0 = p; b0 = e; } else if (p > v1) { v1 = p; b1 = e; }
    }
    SEL[2u * t] = b0;
    SEL[2u * t + 1u] = b1;
    WGT[2u * t] = v0 / sum;
    WGT[2u * t + 1u] = v1 / sum;
    atomicAdd(&COUNT[b0], 1u);
    atomicAdd(&COUNT[b1], 1u);
}

// Single invocation: SEG = exclusive prefix sum of counts rounded up to the matmul tile.
@compute @workgroup_size(1, 1, 1)
fn offsets() {
    var acc = 0u;
    for (var e = 0u; e < P.experts; e++) {
        SEG[e] = acc;
        let c = atomicLoad(&COUNT[e]);
        acc += (c + P.tile - 1u) / P.tile * P.tile;
        atomicStore(&CURSOR[e], 0u);
    }
    SEG[P.experts] = acc;
}

@compute @workgroup_size(64, 1, 1)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let s = flat_index(gid, nwg, 64u);
    if (s >= 2u * P.tokens) { return; }
    let e = SEL[s];
    let pos = SEG[e] + atomicAdd(&CURSOR[e], 1u);
    ROWS[pos] = s;
}

// Y[t, c] += WGT[2t] * SLOTS[2t, c] + WGT[2t+1] * SLOTS[2t+1, c]
@compute @workgroup_size(256, 1, 1)
fn combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= P.tokens * P.cols) { return; }
    let t = i / P.cols;
    let c = i % P.cols;
    let v = WGT[2u * t] * f32(SLOTS[(2u * t) * P.cols + c]) + WGT[2u * t + 1u] * f32(SLOTS[(2u * t + 1u) * P.cols + c]);
    let yi = P.y_off + t * P.y_stride + c;
    Y[yi] = to_out(f32(Y[yi]) + v);
}

// Dense evaluation (the reference path): Y[t, c] += w_t * SLOTS[t, c], w_t the routing weight
// of expert P.expert for token t (0 when not among its top 2). SLOTS is [tokens, cols] here.
@compute @workgroup_size(256, 1, 1)
fn combine_dense(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= P.tokens * P.cols) { return; }
    let t = i / P.cols;
    let c = i % P.cols;
    let w = select(0.0, WGT[2u * t], SEL[2u * t] == P.expert) + select(0.0, WGT[2u * t + 1u], SEL[2u * t + 1u] == P.expert);
    let yi = P.y_off + t * P.y_stride + c;
    Y[yi] = to_out(f32(Y[yi]) + w * f32(SLOTS[t * P.cols + c]));
}
