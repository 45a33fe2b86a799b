/// x + (sigma_next - sigma) * v, in f32 like diffusers.
pub fn euler_step(x: &mut [f32], v: &[f32], sigma: f32, sigma_next: f32) {
    let dt = sigma_next - sigma;
    for (a, b) in x.iter_mut().zip(v) {
        *a += dt * *b;
    }
}

/// diffusers' `get_timestep_embedding` frequencies, in the same f32 steps:
/// exp(-ln(max_period) * j / (half - shift)).
pub fn timestep_freqs(half: usize, max_period: f64, shift: f32) -> Vec<f32> {
    let c = -(max_period.ln()) as f32;
    (0..half).map(|j| (c * j as f32 / (half as f32 - shift)).exp()).collect()
}

/// [cos(t f), sin(t f)] (cos first when `flip`, as FLUX), the angle a single f32 product.
pub fn timestep_embedding(t: f32, freqs: &[f32], flip: bool) -> Vec<f32> {
    let angles: Vec<f64> = freqs.iter().map(|&f| (t * f) as f64).collect();
    let sin = angles.iter().map(|a| a.sin() as f32);
    let cos = angles.iter().map(|a| a.cos() as f32);
    if flip { cos.chain(sin).collect() } else { sin.chain(cos).collect() }
}
