//! The xorshift generator of the synthetic model writers and benches: deterministic random
//! weights without a dependency, uniform in [-1, 1).

pub struct Rng(pub u64);

impl Rng {
    pub fn f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// `n` values scaled by `s`.
    pub fn vec(&mut self, n: usize, s: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32() * s).collect()
    }
}
