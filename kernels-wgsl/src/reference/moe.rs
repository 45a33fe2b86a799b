/// Top-2 routing of one token: expert ids and their softmax probabilities over all experts
/// (no renormalisation), first index winning ties.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Top2 {
    pub experts: [u32; 2],
    pub weights: [f32; 2],
}

pub fn top2(logits: &[f32], experts: usize) -> Vec<Top2> {
    logits
        .chunks(experts)
        .map(|row| {
            let mx = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
            let p: Vec<f64> = row.iter().map(|&v| (v as f64 - mx).exp()).collect();
            let s: f64 = p.iter().sum();
            let mut b0 = 0;
            for e in 1..experts {
                if p[e] > p[b0] {
                    b0 = e;
                }
            }
            let mut b1 = if b0 == 0 { 1 } else { 0 };
            for e in 0..experts {
                if e != b0 && p[e] > p[b1] {
                    b1 = e;
                }
            }
            Top2 { experts: [b0 as u32, b1 as u32], weights: [(p[b0] / s) as f32, (p[b1] / s) as f32] }
        })
        .collect()
}

/// Dense evaluation of the routed experts: y[t] = sum_k w_k * scale * up_e(down_e(x[t])).
/// down [E, r, h], up [E, out, r].
pub fn moe_dense(x: &[f32], routes: &[Top2], down: &[f32], up: &[f32], h: usize, r: usize, out: usize, scale: f32) -> Vec<f32> {
    let mut y = vec![0f32; routes.len() * out];
    for (t, route) in routes.iter().enumerate() {
        let xt = &x[t * h..(t + 1) * h];
        for k in 0..2 {
            let e = route.experts[k] as usize;
            let mid: Vec<f64> = (0..r)
                .map(|i| (0..h).map(|c| xt[c] as f64 * down[(e * r + i) * h + c] as f64).sum())
                .collect();
            for o in 0..out {
                let v: f64 = (0..r).map(|i| mid[i] * up[(e * out + o) * r + i] as f64).sum();
                y[t * out + o] += (route.weights[k] as f64 * scale as f64 * v) as f32;
            }
        }
    }
    y
}
