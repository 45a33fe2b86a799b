pub use crate::Activation;

/// erf in f64: Taylor series below 2.5, the erfc continued fraction above (both ~1e-14).
fn erf(x: f64) -> f64 {
    let a = x.abs();
    let r = if a < 2.5 {
        let (mut sum, mut term, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 * sum {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
        let mut f = a;
        for k in (1..80).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
    };
    r.copysign(x)
}

pub fn activate(x: f32, act: Activation) -> f32 {
    let v = x as f64;
    let r = match act {
        Activation::None => v,
        Activation::GeluTanh => 0.5 * v * (1.0 + (0.7978845608028654 * (v + 0.044715 * v * v * v)).tanh()),
        Activation::GeluErf => 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2)),
        Activation::Silu => v / (1.0 + (-v).exp()),
    };
    r as f32
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add = 0,
    Mul = 1,
    Sub = 2,
}

/// y = a op b over [rows, cols]; `b` has either rows*cols elements or cols (broadcast).
pub fn binary(a: &[f32], b: &[f32], cols: usize, op: BinaryOp) -> Vec<f32> {
    a.iter()
        .enumerate()
        .map(|(i, &x)| {
            let y = if b.len() == a.len() { b[i] } else { b[i % cols] };
            match op {
                BinaryOp::Add => x + y,
                BinaryOp::Mul => x * y,
                BinaryOp::Sub => x - y,
            }
        })
        .collect()
}

/// r += gate[c] * x (gate None: plain add), over [rows, cols].
pub fn gated_residual(r: &mut [f32], x: &[f32], gate: Option<&[f32]>, cols: usize) {
    for (i, v) in r.iter_mut().enumerate() {
        let g = gate.map_or(1.0, |g| g[i % cols] as f64);
        *v = (*v as f64 + g * x[i] as f64) as f32;
    }
}

/// y[r, c] = silu(x[r, c]) * x[r, cols + c], x [rows, 2*cols].
pub fn swiglu(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let g = x[r * 2 * cols + c] as f64;
            let u = x[r * 2 * cols + cols + c] as f64;
            y.push((g / (1.0 + (-g).exp()) * u) as f32);
        }
    }
    y
}

pub fn softmax(x: &[f32], cols: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        let mx = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let s: f64 = row.iter().map(|&v| (v as f64 - mx).exp()).sum();
        y.extend(row.iter().map(|&v| ((v as f64 - mx).exp() / s) as f32));
    }
    y
}

/// Mean over rows of [rows, cols].
pub fn mean_rows(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .map(|c| ((0..rows).map(|r| x[r * cols + c] as f64).sum::<f64>() / rows as f64) as f32)
        .collect()
}

/// First index of the maximum of each row.
pub fn argmax(x: &[f32], cols: usize) -> Vec<u32> {
    x.chunks(cols)
        .map(|row| {
            let mut bi = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[bi] {
                    bi = i;
                }
            }
            bi as u32
        })
        .collect()
}
