//! The seeded noise generator, identical on every backend (it runs on the host): SplitMix64
//! (Steele et al.) gives 64-bit words; two 53-bit uniforms per Box-Muller pair give standard
//! normals in f64, stored as f32. Values fill the unpacked latent [16, h, w] in row-major
//! order and are then packed 2x2 like the latents, so a seed means the same image at any
//! token layout.

pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// `n` standard normal values.
pub fn normal(seed: u64, n: usize) -> Vec<f32> {
    let mut g = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (g.uniform(), g.uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// [c, h, w] latent -> [(h/2)(w/2), 4c] tokens: view (c, h/2, 2, w/2, 2), permute to
/// (h/2, w/2, c, 2, 2) (diffusers' `_pack_latents`).
pub fn pack(lat: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(lat.len());
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            for ch in 0..c {
                for dy in 0..2 {
                    for dx in 0..2 {
                        out.push(lat[(ch * h + 2 * y + dy) * w + 2 * x + dx]);
                    }
                }
            }
        }
    }
    out
}

/// Inverse of `pack`.
pub fn unpack(tok: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; c * h * w];
    let mut i = 0;
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            for ch in 0..c {
                for dy in 0..2 {
                    for dx in 0..2 {
                        out[(ch * h + 2 * y + dy) * w + 2 * x + dx] = tok[i];
                        i += 1;
                    }
                }
            }
        }
    }
    out
}

/// RoPE ids of packed tokens: (0, y + row_offset, x), row-major.
pub fn ids(h2: usize, w2: usize, row_offset: usize) -> Vec<f32> {
    (0..h2 * w2).flat_map(|i| [0.0, (i / w2 + row_offset) as f32, (i % w2) as f32]).collect()
}
