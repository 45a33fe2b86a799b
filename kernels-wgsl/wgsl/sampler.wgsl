// Flow-matching sampler pieces: the Euler step and the sinusoidal timestep embedding.
//#include common

struct Params {
    n: u32, half_dim: u32, flags: u32, _p0: u32,   // flags bit0: cos first (flip_sin_to_cos)
    dt: f32, t: f32, _p1: f32, _p2: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<In>;
@group(0) @binding(3) var<storage, read> FREQ: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<Out>;

// x <- x + (sigma_next - sigma) * v, in f32 as diffusers' FlowMatchEulerDiscreteScheduler.
@compute @workgroup_size(256, 1, 1)
fn euler_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= P.n) { return; }
    X[i] = X[i] + P.dt * f32(V[i]);
}

// emb = [cos(t f_j), sin(t f_j)] (or sin first), f_j = FREQ[j] computed on the host exactly
// as diffusers does in f32; the angle t * f_j is one f32 product, as in the reference.
@compute @workgroup_size(64, 1, 1)
fn timestep_embedding(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= P.half_dim) { return; }
    let cs = sincos_precise(P.t * FREQ[j]);
    let first = select(cs.x, cs.y, (P.flags & 1u) != 0u);
    let second = select(cs.y, cs.x, (P.flags & 1u) != 0u);
    Y[j] = to_out(first);
    Y[P.half_dim + j] = to_out(second);
}
