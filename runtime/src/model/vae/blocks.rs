//! The reference blocks, named like BFL's `ae.safetensors` keys (diffusers' in comments):
//! ResnetBlock (ResnetBlock2D), Downsample (Downsample2D, padding 0), Upsample (Upsample2D)
//! and the mid-block Attention (AttnBlock / Attention with one head of all channels).
//! Each forward takes its input by value, so buffers return to the pool as soon as possible.

use super::layers::{Conv, FeatureMap, Loader, Norm};
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, AttentionArgs, Linear, MapOp, Mat};
use x2edit_kernels::reference::MaskedRows;
use x2edit_kernels::Activation;

/// norm1 -> SiLU -> conv1 -> norm2 -> SiLU -> conv2, plus the input (through a 1x1
/// `nin_shortcut` when the width changes).
pub struct ResnetBlock {
    norm1: Norm,
    conv1: Conv,
    norm2: Norm,
    conv2: Conv,
    nin_shortcut: Option<Conv>,
}

impl ResnetBlock {
    pub fn load(l: &Loader, at: &str, cin: usize, cout: usize) -> Result<ResnetBlock> {
        Ok(ResnetBlock {
            norm1: l.norm(&format!("{at}.norm1"), cin)?,
            conv1: l.conv(&format!("{at}.conv1"), cin, cout, 3)?,
            norm2: l.norm(&format!("{at}.norm2"), cout)?,
            conv2: l.conv(&format!("{at}.conv2"), cout, cout, 3)?,
            nin_shortcut: if cin != cout { Some(l.conv(&format!("{at}.nin_shortcut"), cin, cout, 1)?) } else { None },
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: FeatureMap) -> Result<FeatureMap> {
        let act = DType::act(gpu.act());
        let t = self.norm1.run(gpu, &x, true)?;
        let h = self.conv1.same(gpu, &t, act)?;
        drop(t);
        let t = self.norm2.run(gpu, &h, true)?;
        drop(h);
        // The residual sum is formed in place: conv2 accumulates onto the shortcut.
        let out = match &self.nin_shortcut {
            Some(s) => s.same(gpu, &x, act)?,
            None => x,
        };
        self.conv2.run_into(gpu, &t, &out, 1, [1; 4], true)?;
        Ok(out)
    }
}

/// 3x3 stride-2 conv after padding right and bottom by one (diffusers Downsample2D with
/// padding 0; BFL pads (0, 1, 0, 1)).
pub struct Downsample {
    conv: Conv,
}

impl Downsample {
    pub fn load(l: &Loader, at: &str, c: usize) -> Result<Downsample> {
        Ok(Downsample { conv: l.conv(&format!("{at}.conv"), c, c, 3)? })
    }

    pub fn forward(&self, gpu: &Gpu, x: FeatureMap) -> Result<FeatureMap> {
        // Output size of a k3 s2 conv over h + 1 rows: h / 2 for even h.
        let (oh, ow) = (x.h.saturating_sub(2) / 2 + 1, x.w.saturating_sub(2) / 2 + 1);
        let y = FeatureMap::like(gpu, x.c, oh, ow)?;
        self.conv.run_into(gpu, &x, &y, 2, [0, 1, 0, 1], false)?;
        Ok(y)
    }
}

/// Nearest 2x upsample, then a 3x3 conv.
pub struct Upsample {
    conv: Conv,
}

impl Upsample {
    pub fn load(l: &Loader, at: &str, c: usize) -> Result<Upsample> {
        Ok(Upsample { conv: l.conv(&format!("{at}.conv"), c, c, 3)? })
    }

    pub fn forward(&self, gpu: &Gpu, x: FeatureMap) -> Result<FeatureMap> {
        let up = FeatureMap::like(gpu, x.c, 2 * x.h, 2 * x.w)?;
        ops::upsample2x(gpu, &x.t, &up.t, [x.c, x.h, x.w])?;
        drop(x);
        self.conv.same(gpu, &up, DType::act(gpu.act()))
    }
}

/// Single-head self-attention over the h*w positions, head dim = all C channels:
/// x + proj_out(attention(q, k, v)) with q/k/v 1x1 projections of GroupNorm(x).
pub struct Attention {
    norm: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    /// proj_out's weight with its bias as an extra column, [C, C + 4] (see `forward`).
    proj_aug: Tensor,
    c: usize,
}

/// Extra columns of the attention output: a column of ones that meets proj_out's bias,
/// padded so rows stay 4-element aligned for the matmul's weight reader.
const AUG: usize = 4;

impl Attention {
    pub fn load(l: &Loader, at: &str, c: usize) -> Result<Attention> {
        let (wn, bn) = l.square(&format!("{at}.proj_out"), c)?;
        let (pw, pb) = (l.w.cpu_f32(&wn)?, l.w.cpu_f32(&bn)?);
        let mut aug = vec![0f32; c * (c + AUG)];
        for r in 0..c {
            aug[r * (c + AUG)..r * (c + AUG) + c].copy_from_slice(&pw[r * c..(r + 1) * c]);
            aug[r * (c + AUG) + c] = pb[r];
        }
        Ok(Attention {
            norm: l.norm(&format!("{at}.norm"), c)?,
            q: l.linear(&format!("{at}.q"), c)?,
            k: l.linear(&format!("{at}.k"), c)?,
            v: l.linear(&format!("{at}.v"), c)?,
            proj_aug: l.gpu.upload_act(&aug, &[c, c + AUG], DType::act(l.gpu.act()))?,
            c,
        })
    }

    /// The activations are channel-major ([C, L]) but attention wants token rows ([L, C]).
    /// Going in, the normalised map is transposed with one strided copy per channel (no
    /// transpose kernel exists; C <= 512 small dispatches). Coming out, no transpose is
    /// needed: proj_out is computed as proj_aug [C, C+4] x O^T, using the attention output
    /// O [L, C+4] (ones in column C) as the matmul's weight operand, which yields [C, L]
    /// directly and is accumulated onto x as the residual.
    pub fn forward(&self, gpu: &Gpu, x: FeatureMap) -> Result<FeatureMap> {
        let (c, l) = (self.c, x.h * x.w);
        let act = DType::act(gpu.act());
        let n = self.norm.run(gpu, &x, false)?;
        let nt = gpu.alloc(&[l, c], act)?;
        for ch in 0..c {
            ops::map(gpu, Mat::new(&n.t, ch * l, l, 1, 1), Mat::new(&nt, ch, l, 1, c), MapOp::Copy)?;
        }
        drop(n);
        let q = ops::linear(gpu, Mat::of(&nt), &self.q, Activation::None)?;
        let k = ops::linear(gpu, Mat::of(&nt), &self.k, Activation::None)?;
        let v = ops::linear(gpu, Mat::of(&nt), &self.v, Activation::None)?;
        drop(nt);
        let o = gpu.alloc(&[l, c + AUG], act)?;
        gpu.fill_u32(&o, if act == DType::F16 { 0x3c00_3c00 } else { 0x3f80_0000 })?;
        ops::attention(
            gpu,
            &AttentionArgs {
                q: Mat::of(&q),
                k: Mat::of(&k),
                v: Mat::of(&v),
                out: Mat::new(&o, 0, l, c, c + AUG),
                heads: 1,
                kv_heads: 1,
                dim: c,
                scale: 1.0 / (c as f32).sqrt(),
                causal: false,
                key_mask: None,
                masked_rows: MaskedRows::Unmask,
            },
        )?;
        drop((q, k, v));
        let ones_aug = Linear { weight: o, bias: None, n: l, k: c + AUG };
        ops::matmul(gpu, Mat::of(&self.proj_aug), &ones_aug, Mat::new(&x.t, 0, c, l, l), Activation::None, true)?;
        Ok(x)
    }
}
