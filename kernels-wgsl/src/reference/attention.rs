/// Policy for query rows whose every key is masked (left-pad rows under causal + padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskedRows {
    /// Attend to all keys with no mask (HF transformers' sdpa `_unmask_unattended`, on CUDA).
    Unmask = 0,
    /// Mean of V over all keys (an all -inf additive mask, as on the CPU).
    Uniform = 1,
}

/// Shapes of one attention launch; q [lq, heads, d], k/v [lk, kv_heads, d], contiguous.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    pub lq: usize,
    pub lk: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub d: usize,
}

/// Naive softmax attention, materialising every score. `causal` allows key j for query i
/// when j <= i + (lk - lq); `key_mask[j] == false` hides key j.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttentionShape,
    scale: f32,
    causal: bool,
    key_mask: Option<&[bool]>,
    policy: MaskedRows,
) -> Vec<f32> {
    let mut out = vec![0f32; s.lq * s.heads * s.d];
    let group = s.heads / s.kv_heads;
    for h in 0..s.heads {
        let hk = h / group;
        for i in 0..s.lq {
            let allowed = |j: usize| (!causal || j <= i + (s.lk - s.lq)) && key_mask.is_none_or(|m| m[j]);
            let any = (0..s.lk).any(allowed);
            let mut scores: Vec<f64> = (0..s.lk)
                .map(|j| {
                    if any && !allowed(j) {
                        return f64::NEG_INFINITY;
                    }
                    if !any && policy == MaskedRows::Uniform {
                        return 0.0;
                    }
                    let qb = (i * s.heads + h) * s.d;
                    let kb = (j * s.kv_heads + hk) * s.d;
                    (0..s.d).map(|t| q[qb + t] as f64 * k[kb + t] as f64).sum::<f64>() * scale as f64
                })
                .collect();
            let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for sc in scores.iter_mut() {
                *sc = (*sc - mx).exp();
                total += *sc;
            }
            for t in 0..s.d {
                let acc: f64 = (0..s.lk).map(|j| scores[j] * v[(j * s.kv_heads + hk) * s.d + t] as f64).sum();
                out[(i * s.heads + h) * s.d + t] = (acc / total) as f32;
            }
        }
    }
    out
}
