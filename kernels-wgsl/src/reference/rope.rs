/// Per-pair rotation frequencies of FLUX's 3-axis RoPE, axis after axis:
/// omega_j = theta^(-2j / axis_dim), computed in f64 as BFL and diffusers do.
/// Returns (freqs [sum(axes)/2], pair index where axis 1 starts, where axis 2 starts).
pub fn rope_flux_freqs(axes: [usize; 3], theta: f64) -> (Vec<f32>, u32, u32) {
    let mut f = Vec::new();
    for &a in &axes {
        for j in 0..a / 2 {
            f.push((1.0 / theta.powf(2.0 * j as f64 / a as f64)) as f32);
        }
    }
    (f, (axes[0] / 2) as u32, ((axes[0] + axes[1]) / 2) as u32)
}

/// Rotate-half frequencies as transformers computes them (in f32): 1 / theta^(2j/d).
pub fn rope_half_freqs(d: usize, theta: f64) -> Vec<f32> {
    (0..d / 2).map(|j| 1.0 / (theta as f32).powf((2 * j) as f32 / d as f32)).collect()
}

/// FLUX QK-norm + RoPE on x [tokens, heads, d] in place; `norm` = (scale [d], eps).
pub fn rope_flux(x: &mut [f32], ids: &[f32], freqs: &(Vec<f32>, u32, u32), heads: usize, d: usize, norm: Option<(&[f32], f32)>) {
    for (r, row) in x.chunks_mut(d).enumerate() {
        let t = r / heads;
        if let Some((sc, eps)) = norm {
            let ms = row.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / d as f64;
            let rs = 1.0 / (ms + eps as f64).sqrt();
            for (c, v) in row.iter_mut().enumerate() {
                *v = (*v as f64 * rs * sc[c] as f64) as f32;
            }
        }
        for j in 0..d / 2 {
            let axis = if j as u32 >= freqs.2 { 2 } else if j as u32 >= freqs.1 { 1 } else { 0 };
            let ang = ids[t * 3 + axis] as f64 * freqs.0[j] as f64;
            let (s, c) = ang.sin_cos();
            let (x0, x1) = (row[2 * j] as f64, row[2 * j + 1] as f64);
            row[2 * j] = (x0 * c - x1 * s) as f32;
            row[2 * j + 1] = (x1 * c + x0 * s) as f32;
        }
    }
}

/// Qwen rotate-half RoPE on x [tokens, heads, d], pairs (j, j + d/2), in place.
pub fn rope_half(x: &mut [f32], pos: &[f32], freqs: &[f32], heads: usize, d: usize) {
    for (r, row) in x.chunks_mut(d).enumerate() {
        let t = r / heads;
        for j in 0..d / 2 {
            let (s, c) = (pos[t] as f64 * freqs[j] as f64).sin_cos();
            let (x0, x1) = (row[j] as f64, row[j + d / 2] as f64);
            row[j] = (x0 * c - x1 * s) as f32;
            row[j + d / 2] = (x1 * c + x0 * s) as f32;
        }
    }
}
