//! Flow-matching Euler sampling as diffusers' FlowMatchEulerDiscreteScheduler runs FLUX:
//! sigmas linspace(1, 1/N, N), shifted (FLUX.1-dev's dynamic shift with mu from the noise
//! token count, or a fixed shift, 1 for schnell-like bases), terminal 0 appended; the step
//! x <- x + (sigma_next - sigma) * v runs on the GPU in f32.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shift {
    /// mu = lerp over (base_seq, max_seq) -> (base_shift, max_shift) of the noise token count;
    /// sigma' = e^mu / (e^mu + (1/sigma - 1)).
    Dynamic { base_shift: f64, max_shift: f64, base_seq: f64, max_seq: f64 },
    /// sigma' = s sigma / (1 + (s - 1) sigma); s = 1 leaves the schedule unchanged.
    Fixed(f64),
}

impl Shift {
    /// FLUX.1-dev's scheduler config (diffusers `scheduler_config.json`).
    pub const DEV: Shift = Shift::Dynamic { base_shift: 0.5, max_shift: 1.15, base_seq: 256.0, max_seq: 4096.0 };
    /// schnell / shuttle-3-diffusion: shift 1, no dynamic shifting.
    pub const NONE: Shift = Shift::Fixed(1.0);

    /// The default for a base: dynamic with guidance embedding (dev-like), else none.
    pub fn for_base(guidance_embed: bool) -> Shift {
        if guidance_embed {
            Shift::DEV
        } else {
            Shift::NONE
        }
    }
}

/// `steps` sigmas plus the terminal 0, for `image_tokens` noise tokens (cond tokens excluded).
pub fn sigmas(steps: usize, image_tokens: usize, shift: Shift) -> Result<Vec<f32>> {
    if steps == 0 || steps > 10_000 {
        return Err(Error::invalid("steps", format!("{steps} is not in 1..=10000")));
    }
    let n = steps as f64;
    let mut out: Vec<f32> = (0..steps)
        .map(|i| {
            // numpy linspace(1, 1/N, N), then the shift, evaluated in f64 and stored as f32
            let s = if steps == 1 { 1.0 } else { 1.0 + (1.0 / n - 1.0) * i as f64 / (n - 1.0) };
            let shifted = match shift {
                Shift::Dynamic { base_shift, max_shift, base_seq, max_seq } => {
                    let m = (max_shift - base_shift) / (max_seq - base_seq);
                    let mu = base_shift + m * (image_tokens as f64 - base_seq);
                    mu.exp() / (mu.exp() + (1.0 / s - 1.0))
                }
                Shift::Fixed(k) => k * s / (1.0 + (k - 1.0) * s),
            };
            shifted as f32
        })
        .collect();
    out.push(0.0);
    Ok(out)
}
