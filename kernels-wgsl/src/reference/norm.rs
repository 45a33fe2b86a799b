/// RMSNorm over rows of width `w`: x / sqrt(mean(x^2) + eps) * weight.
pub fn rms_norm(x: &[f32], w: usize, weight: Option<&[f32]>, eps: f32) -> Vec<f32> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(w) {
        let ms = row.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / w as f64;
        let r = 1.0 / (ms + eps as f64).sqrt();
        y.extend(row.iter().enumerate().map(|(c, &v)| (v as f64 * r * weight.map_or(1.0, |g| g[c] as f64)) as f32));
    }
    y
}

fn stats(row: &[f32], eps: f32) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + eps as f64).sqrt())
}

/// LayerNorm over rows of width `w`, optionally affine.
pub fn layer_norm(x: &[f32], w: usize, weight: Option<&[f32]>, bias: Option<&[f32]>, eps: f32) -> Vec<f32> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(w) {
        let (mean, r) = stats(row, eps);
        y.extend(row.iter().enumerate().map(|(c, &v)| {
            let n = (v as f64 - mean) * r;
            (n * weight.map_or(1.0, |g| g[c] as f64) + bias.map_or(0.0, |b| b[c] as f64)) as f32
        }));
    }
    y
}

/// FLUX modulation: (1 + scale) * LN(x) + shift, LN non-affine.
pub fn layer_norm_modulate(x: &[f32], w: usize, scale: &[f32], shift: &[f32], eps: f32) -> Vec<f32> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(w) {
        let (mean, r) = stats(row, eps);
        y.extend(
            row.iter()
                .enumerate()
                .map(|(c, &v)| ((v as f64 - mean) * r * (1.0 + scale[c] as f64) + shift[c] as f64) as f32),
        );
    }
    y
}
