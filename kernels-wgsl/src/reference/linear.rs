use super::elementwise::{activate, Activation};

/// y[m, n] = act(sum_k x[m, k] w[n, k] + b[n]), x [m, k], w [n, k].
pub fn matmul(x: &[f32], w: &[f32], b: Option<&[f32]>, m: usize, n: usize, k: usize, act: Activation) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    for i in 0..m {
        let xr = &x[i * k..(i + 1) * k];
        for j in 0..n {
            let wr = &w[j * k..(j + 1) * k];
            let mut s = 0f64;
            for t in 0..k {
                s += xr[t] as f64 * wr[t] as f64;
            }
            if let Some(b) = b {
                s += b[j] as f64;
            }
            y[i * n + j] = activate(s as f32, act);
        }
    }
    y
}
