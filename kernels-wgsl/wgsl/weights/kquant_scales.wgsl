// 6-bit scale and min of sub-block j (0..7) from the 12 packed scale bytes of Q4_K/Q5_K
// (ggml's get_scale_min_k4); `s` holds those bytes as 3 little-endian words. Words are
// picked with select, not a dynamic array index: CPU adapters (lavapipe) turn a dynamically
// indexed private array into a per-invocation memory loop.
fn kq_byte(s: array<u32, 3>, i: u32) -> u32 {
    let w = select(select(s[0], s[1], i >= 4u), s[2], i >= 8u);
    return u8_at(w, i & 3u);
}

fn kq_scale_min(s: array<u32, 3>, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(kq_byte(s, j) & 63u), f32(kq_byte(s, j + 4u) & 63u));
    }
    let sc = (kq_byte(s, j + 4u) & 15u) | ((kq_byte(s, j - 4u) >> 6u) << 4u);
    let m = (kq_byte(s, j + 4u) >> 4u) | ((kq_byte(s, j) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}
