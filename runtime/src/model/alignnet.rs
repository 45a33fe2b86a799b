//! AlignNet (X2E `src/proj.py`, `create_proj3_qwen7b(use_cnn=True)`): maps Qwen's stacked hidden
//! states [layers+1, L, H] to FLUX's text stream and pooled vector.
//!
//! ```text
//! x  = Conv2d(layers+1 -> 1, 5x5, pad 2, bias) over the (token, feature) plane   [L, H]
//! h  = LayerNorm(H, eps 1e-6)(x)
//! prompt_embeds = projector.2(GELU(projector.0(h)))                           [L, D]
//! pooled        = mean over L of fc.1(GELU(prompt_embeds))                    [P]
//! ```
//!
//! The conv is accumulated one hidden state at a time (`Conv::accumulate`), so the stacked
//! [29, 512, 3584] tensor never exists on the GPU. Keys: `conv.*`, `mlp.layernorm.*`,
//! `mlp.projector.{0,2}.weight`, `mlp.fc.1.*`, behind `module.` (DataParallel) or `alignnet.`
//! (our adapter GGUF) in some files.

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Conv2dArgs, Linear, MapOp, Mat};
use crate::weights::Weights;
use std::path::Path;
use x2edit_kernels::Activation;

/// X2Edit's MLP3 LayerNorm epsilon (X2E `src/proj.py`: `eps=1e-6`).
const EPS: f32 = 1e-6;

/// AlignNet's weights seen without their prefix.
pub fn open_weights(path: &Path) -> Result<Weights> {
    let w = Weights::open(path)?;
    for prefix in ["", "module.", "alignnet."] {
        if w.has(&format!("{prefix}conv.weight")) {
            return Ok(w.with_prefix(prefix));
        }
    }
    Err(Error::invalid(w.label().to_string(), "no AlignNet tensors (conv.weight, module.conv.weight or alignnet.conv.weight)"))
}

/// `conv`: Conv2d(C -> 1, k x k, pad (k-1)/2) over (token, feature) planes.
pub struct Conv {
    pub weight: Tensor,
    pub bias: Tensor,
    pub channels: usize,
    pub kernel: usize,
}

/// The conv's running output for one sequence: f32 [L, H], one hidden state added at a time.
pub struct ConvAccumulator {
    pub out: Tensor,
    added: usize,
}

impl Conv {
    pub fn load(gpu: &Gpu, w: &Weights) -> Result<Conv> {
        let s = w.shape("conv.weight")?;
        let [1, channels, kernel, k2] = s[..] else {
            return Err(Error::shape(format!("{}: conv.weight", w.label()), "[1, layers+1, k, k]", s));
        };
        if kernel != k2 || kernel % 2 == 0 {
            return Err(Error::shape(format!("{}: conv.weight", w.label()), "an odd square kernel", s));
        }
        w.expect_shape("conv.bias", &[1])?;
        // Uploaded as f32 vectors: the conv kernel takes float weights, and these are tiny.
        Ok(Conv { weight: w.vector(gpu, "conv.weight")?, bias: w.vector(gpu, "conv.bias")?, channels, kernel })
    }

    pub fn start(&self, gpu: &Gpu, tokens: usize, hidden: usize) -> Result<ConvAccumulator> {
        Ok(ConvAccumulator { out: gpu.alloc(&[tokens, hidden], DType::F32)?, added: 0 })
    }

    /// Adds hidden state number `acc.added` ([L, H], f32 or f16) into the running output.
    pub fn accumulate(&self, gpu: &Gpu, acc: &mut ConvAccumulator, hidden: &Tensor) -> Result<()> {
        let (l, h) = (acc.out.shape()[0], acc.out.shape()[1]);
        if acc.added >= self.channels {
            return Err(Error::invalid("AlignNet conv", format!("more than {} hidden states", self.channels)));
        }
        if hidden.numel() != l * h {
            return Err(Error::shape("AlignNet conv input", [l, h], hidden.shape()));
        }
        let k = self.kernel;
        let first = acc.added == 0;
        ops::conv2d(
            gpu,
            &Conv2dArgs {
                x: hidden,
                x_off: 0,
                cin: 1,
                h: l,
                w: h,
                weight: &self.weight,
                w_off: acc.added * k * k,
                w_co_stride: self.channels * k * k,
                bias: first.then_some(&self.bias),
                y: &acc.out,
                y_off: 0,
                cout: 1,
                ks: k,
                stride: 1,
                pad: [(k - 1) / 2; 4],
                act: Activation::None,
                accumulate: !first,
            },
        )?;
        acc.added += 1;
        Ok(())
    }
}

/// `mlp` (X2Edit's MLP3).
pub struct Mlp3 {
    pub layernorm_weight: Tensor,
    pub layernorm_bias: Tensor,
    /// `projector.0` (H -> D) and `projector.2` (D -> D), no bias
    pub projector_0: Linear,
    pub projector_2: Linear,
    /// `fc.1` (D -> P), with bias
    pub fc_1: Linear,
}

/// AlignNet outputs: prompt_embeds [L, D] (activation type), pooled [1, P] (f32).
pub struct AlignOutput {
    pub prompt_embeds: Tensor,
    pub pooled: Tensor,
}

impl Mlp3 {
    pub fn load(gpu: &Gpu, w: &Weights) -> Result<Mlp3> {
        let h = *w.shape("mlp.layernorm.weight")?.first().unwrap_or(&0);
        w.expect_shape("mlp.layernorm.bias", &[h])?;
        let d = *w.shape("mlp.projector.0.weight")?.first().unwrap_or(&0);
        w.expect_shape("mlp.projector.0.weight", &[d, h])?;
        w.expect_shape("mlp.projector.2.weight", &[d, d])?;
        let p = *w.shape("mlp.fc.1.weight")?.first().unwrap_or(&0);
        w.expect_shape("mlp.fc.1.weight", &[p, d])?;
        Ok(Mlp3 {
            layernorm_weight: w.vector(gpu, "mlp.layernorm.weight")?,
            layernorm_bias: w.vector(gpu, "mlp.layernorm.bias")?,
            projector_0: w.linear(gpu, "mlp.projector.0.weight", None)?,
            projector_2: w.linear(gpu, "mlp.projector.2.weight", None)?,
            fc_1: w.linear(gpu, "mlp.fc.1.weight", Some("mlp.fc.1.bias"))?,
        })
    }

    pub fn input_dim(&self) -> usize {
        self.projector_0.k
    }

    /// x: the conv output f32 [L, H].
    pub fn forward(&self, gpu: &Gpu, x: &Tensor) -> Result<AlignOutput> {
        let l = x.shape()[0];
        if x.numel() != l * self.input_dim() {
            return Err(Error::shape("AlignNet mlp input", [l, self.input_dim()], x.shape()));
        }
        let act = DType::act(gpu.act());
        let h = gpu.alloc(&[l, self.input_dim()], act)?;
        ops::layer_norm(gpu, Mat::of(x), Mat::of(&h), Some(&self.layernorm_weight), Some(&self.layernorm_bias), EPS)?;
        let mid = ops::linear(gpu, Mat::of(&h), &self.projector_0, Activation::GeluErf)?;
        let prompt_embeds = ops::linear(gpu, Mat::of(&mid), &self.projector_2, Activation::None)?;
        let g = gpu.alloc(prompt_embeds.shape(), act)?;
        ops::map(gpu, Mat::of(&prompt_embeds), Mat::of(&g), MapOp::Act(Activation::GeluErf))?;
        let tokens = gpu.alloc(&[l, self.fc_1.n], DType::F32)?;
        ops::matmul(gpu, Mat::of(&g), &self.fc_1, Mat::of(&tokens), Activation::None, false)?;
        let pooled = gpu.alloc(&[1, self.fc_1.n], DType::F32)?;
        ops::mean_rows(gpu, Mat::of(&tokens), Mat::of(&pooled))?;
        Ok(AlignOutput { prompt_embeds, pooled })
    }
}

/// The whole AlignNet.
pub struct AlignNet {
    pub conv: Conv,
    pub mlp: Mlp3,
}

impl AlignNet {
    pub fn load(gpu: &Gpu, w: &Weights) -> Result<AlignNet> {
        Ok(AlignNet { conv: Conv::load(gpu, w)?, mlp: Mlp3::load(gpu, w)? })
    }

    /// From stacked hidden states on the CPU ([layers+1, L, H] f32), one plane at a time.
    pub fn forward_host(&self, gpu: &Gpu, hidden: &[f32], tokens: usize, width: usize) -> Result<AlignOutput> {
        let plane = tokens * width;
        if hidden.len() != self.conv.channels * plane {
            return Err(Error::shape("hidden_states", [self.conv.channels, tokens, width], hidden.len()));
        }
        let mut acc = self.conv.start(gpu, tokens, width)?;
        for p in hidden.chunks(plane) {
            let t = gpu.upload_f32(p, &[tokens, width])?;
            self.conv.accumulate(gpu, &mut acc, &t)?;
        }
        self.mlp.forward(gpu, &acc.out)
    }
}
