// Shared helpers: exact f16/bf16 decoding, activations, precise trig, flat dispatch indices.

// IEEE binary16 bits -> f32, exact for every finite value including subnormals
// (unpack2x16float may flush subnormals; real Q5_K/Q6_K scales are full of them).
fn f16_bits_to_f32(h: u32) -> f32 {
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    let normal = bitcast<f32>(((e + 112u) << 23u) | (m << 13u));
    let sub = f32(m) * 5.9604644775390625e-8; // m * 2^-24, exact
    let v = select(normal, sub, e == 0u);
    return select(v, -v, (h & 0x8000u) != 0u);
}

fn bf16_bits_to_f32(h: u32) -> f32 {
    return bitcast<f32>(h << 16u);
}

// Sign-extend byte `i` (0..3) of a little-endian word.
fn i8_at(word: u32, i: u32) -> f32 {
    return f32(bitcast<i32>(word << (24u - 8u * i)) >> 24u);
}

fn u8_at(word: u32, i: u32) -> u32 {
    return (word >> (8u * i)) & 0xffu;
}

// erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26); WGSL has no erf builtin.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let r = 1.0 - poly * exp(-a * a);
    return select(r, -r, x < 0.0);
}

fn gelu_tanh(x: f32) -> f32 {
    let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    return 0.5 * x * (1.0 + tanh(u));
}

fn gelu_erf(x: f32) -> f32 {
    return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476));
}

fn silu(x: f32) -> f32 {
    return x / (1.0 + exp(-clamp(x, -80.0, 80.0)));
}

const ACT_NONE: u32 = 0u;
const ACT_GELU_TANH: u32 = 1u;
const ACT_GELU_ERF: u32 = 2u;
const ACT_SILU: u32 = 3u;

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return gelu_tanh(x); }
        case 2u: { return gelu_erf(x); }
        case 3u: { return silu(x); }
        default: { return x; }
    }
}

// (sin x, cos x) with Cody-Waite reduction by pi/4 and minimax polynomials (Cephes-style
// coefficients), accurate to a few ulp for |x| < 8192. The WGSL spec only promises
// 2^-11 absolute error for the builtins, too coarse for RoPE and timestep parity.
fn sincos_precise(x: f32) -> vec2<f32> {
    let ax = abs(x);
    var j = u32(ax * 1.2732395447351628); // 4/pi
    j = j + (j & 1u);
    let y = f32(j);
    let r = ((ax - y * 0.78515625) - y * 2.4187564849853515625e-4) - y * 3.77489497744594108e-8;
    let z = r * r;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
    let q = (j >> 1u) & 3u; // quadrant
    var sv = select(s, c, (q & 1u) == 1u);
    var cv = select(c, s, (q & 1u) == 1u);
    sv = select(sv, -sv, q >= 2u);
    cv = select(cv, -cv, q == 1u || q == 2u);
    sv = select(sv, -sv, x < 0.0);
    return vec2<f32>(sv, cv);
}

// Flat invocation index for 1-D work spread over a 2-D grid (65535 workgroups per dimension).
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg_size;
}

// Four bytes of a word as vectors: signed, low and high nibbles, and bit fields.
fn i8x4(w: u32) -> vec4<f32> {
    return vec4<f32>(f32(bitcast<i32>(w << 24u) >> 24u), f32(bitcast<i32>(w << 16u) >> 24u),
                     f32(bitcast<i32>(w << 8u) >> 24u), f32(bitcast<i32>(w) >> 24u));
}

// (w >> 8t) & mask for the four bytes t.
fn bytes_masked(w: u32, mask: u32) -> vec4<f32> {
    return vec4<f32>(f32(w & mask), f32((w >> 8u) & mask), f32((w >> 16u) & mask), f32((w >> 24u) & mask));
}

// Bits s..s+3 of a word, one per lane.
fn bits4(w: u32, s: u32) -> vec4<f32> {
    return vec4<f32>(f32((w >> s) & 1u), f32((w >> (s + 1u)) & 1u), f32((w >> (s + 2u)) & 1u), f32((w >> (s + 3u)) & 1u));
}

// Two f16 values of a word, low half first.
fn f16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(f16_bits_to_f32(w & 0xffffu), f16_bits_to_f32(w >> 16u));
}

fn bf16x2(w: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
}

fn dot32(a: array<vec4<f32>, 8>, b: array<vec4<f32>, 8>) -> f32 {
    return dot(a[0], b[0]) + dot(a[1], b[1]) + dot(a[2], b[2]) + dot(a[3], b[3]) +
           dot(a[4], b[4]) + dot(a[5], b[5]) + dot(a[6], b[6]) + dot(a[7], b[7]);
}
