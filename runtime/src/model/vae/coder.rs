//! Encoder and Decoder (BFL `encoder.*` / `decoder.*`): conv_in, the levels, the mid block
//! (resnet, attention, resnet), GroupNorm + SiLU, conv_out. One pass over one image or tile.

use super::blocks::{Attention, Downsample, ResnetBlock, Upsample};
use super::config::VaeConfig;
use super::layers::{Conv, FeatureMap, Loader, Norm};
use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu};

/// Intermediate maps read back by name (`encoder.down.1`, `decoder.mid`, ... as the fixtures'
/// `debug.*` tensors), for parity tests and debugging. Reading back costs a GPU sync.
pub type Trace = Vec<(String, Vec<f32>)>;

#[cfg(not(target_arch = "wasm32"))]
fn record(gpu: &Gpu, trace: &mut Option<&mut Trace>, name: &str, x: &FeatureMap) -> Result<()> {
    if let Some(t) = trace.as_deref_mut() {
        t.push((name.to_string(), gpu.read_f32(&x.t)?));
    }
    Ok(())
}

/// Tracing reads back in the middle of a pass, which only a native build can wait for.
#[cfg(target_arch = "wasm32")]
fn record(_gpu: &Gpu, trace: &mut Option<&mut Trace>, name: &str, _x: &FeatureMap) -> Result<()> {
    match trace {
        Some(_) => Err(Error::Unsupported(name.to_string(), "VAE traces on wasm32".into())),
        None => Ok(()),
    }
}

pub struct MidBlock {
    block_1: ResnetBlock,
    attn_1: Attention,
    block_2: ResnetBlock,
}

impl MidBlock {
    fn load(l: &Loader, at: &str, c: usize) -> Result<MidBlock> {
        Ok(MidBlock {
            block_1: ResnetBlock::load(l, &format!("{at}.block_1"), c, c)?,
            attn_1: Attention::load(l, &format!("{at}.attn_1"), c)?,
            block_2: ResnetBlock::load(l, &format!("{at}.block_2"), c, c)?,
        })
    }
    fn forward(&self, gpu: &Gpu, x: FeatureMap) -> Result<FeatureMap> {
        let x = self.block_1.forward(gpu, x)?;
        let x = self.attn_1.forward(gpu, x)?;
        self.block_2.forward(gpu, x)
    }
}

/// `encoder.down.{i}`: resnets, then a downsample on all but the last level.
struct Down {
    block: Vec<ResnetBlock>,
    downsample: Option<Downsample>,
}

/// `decoder.up.{i}`: resnets, then an upsample on all but level 0 (applied last).
struct Up {
    block: Vec<ResnetBlock>,
    upsample: Option<Upsample>,
}


/// Image [in_channels, H, W] -> moments [2 * latent, H/8, W/8] (mean, then logvar), f32.
pub struct Encoder {
    conv_in: Conv,
    down: Vec<Down>,
    mid: MidBlock,
    norm_out: Norm,
    conv_out: Conv,
    quant_conv: Option<Conv>,
    in_channels: usize,
    factor: usize,
}

impl Encoder {
    pub fn load(l: &Loader, cfg: &VaeConfig) -> Result<Encoder> {
        let ch = &cfg.block_out_channels;
        let mut down = Vec::new();
        let mut cin = ch[0];
        for (i, &c) in ch.iter().enumerate() {
            let block = (0..cfg.layers_per_block)
                .map(|j| ResnetBlock::load(l, &format!("encoder.down.{i}.block.{j}"), if j == 0 { cin } else { c }, c))
                .collect::<Result<Vec<_>>>()?;
            let last = i + 1 == ch.len();
            let downsample = if last { None } else { Some(Downsample::load(l, &format!("encoder.down.{i}.downsample"), c)?) };
            down.push(Down { block, downsample });
            cin = c;
        }
        let (cm, z2) = (cfg.mid_channels(), 2 * cfg.latent_channels);
        Ok(Encoder {
            conv_in: l.conv("encoder.conv_in", cfg.in_channels, ch[0], 3)?,
            down,
            mid: MidBlock::load(l, "encoder.mid", cm)?,
            norm_out: l.norm("encoder.norm_out", cm)?,
            conv_out: l.conv("encoder.conv_out", cm, z2, 3)?,
            quant_conv: if cfg.quant_conv { Some(l.conv("quant_conv", z2, z2, 1)?) } else { None },
            in_channels: cfg.in_channels,
            factor: cfg.factor(),
        })
    }

    pub fn forward(&self, gpu: &Gpu, x: FeatureMap, mut trace: Option<&mut Trace>) -> Result<FeatureMap> {
        let f = self.factor;
        if x.c != self.in_channels || x.h == 0 || x.w == 0 || !x.h.is_multiple_of(f) || !x.w.is_multiple_of(f) {
            return Err(Error::shape("VAE encoder input", format!("[{}, {f}*k, {f}*l]", self.in_channels), [x.c, x.h, x.w]));
        }
        let act = DType::act(gpu.act());
        let mut x = self.conv_in.same(gpu, &x, act)?;
        record(gpu, &mut trace, "encoder.conv_in", &x)?;
        for (i, level) in self.down.iter().enumerate() {
            for b in &level.block {
                x = b.forward(gpu, x)?;
            }
            if let Some(d) = &level.downsample {
                x = d.forward(gpu, x)?;
            }
            record(gpu, &mut trace, &format!("encoder.down.{i}"), &x)?;
        }
        x = self.mid.forward(gpu, x)?;
        record(gpu, &mut trace, "encoder.mid", &x)?;
        let t = self.norm_out.run(gpu, &x, true)?;
        drop(x);
        // The moments are read back and combined on the CPU: keep them f32.
        let m = self.conv_out.same(gpu, &t, DType::F32)?;
        drop(t);
        match &self.quant_conv {
            Some(q) => q.same(gpu, &m, DType::F32),
            None => Ok(m),
        }
    }
}

/// Latent [latent, h, w] (unscaled) -> image [out_channels, 8h, 8w], f32, unclamped.
pub struct Decoder {
    post_quant_conv: Option<Conv>,
    conv_in: Conv,
    mid: MidBlock,
    /// BFL order: `up[levels-1]` is applied first.
    up: Vec<Up>,
    norm_out: Norm,
    conv_out: Conv,
    latent_channels: usize,
}

impl Decoder {
    pub fn load(l: &Loader, cfg: &VaeConfig) -> Result<Decoder> {
        let ch = &cfg.block_out_channels;
        let n = ch.len();
        let z = cfg.latent_channels;
        let mut up = Vec::new();
        for i in 0..n {
            // Level i takes the width of level i + 1 (the one applied before it).
            let cin = if i + 1 < n { ch[i + 1] } else { ch[n - 1] };
            let block = (0..=cfg.layers_per_block)
                .map(|j| ResnetBlock::load(l, &format!("decoder.up.{i}.block.{j}"), if j == 0 { cin } else { ch[i] }, ch[i]))
                .collect::<Result<Vec<_>>>()?;
            let upsample = if i > 0 { Some(Upsample::load(l, &format!("decoder.up.{i}.upsample"), ch[i])?) } else { None };
            up.push(Up { block, upsample });
        }
        Ok(Decoder {
            post_quant_conv: if cfg.quant_conv { Some(l.conv("post_quant_conv", z, z, 1)?) } else { None },
            conv_in: l.conv("decoder.conv_in", z, ch[n - 1], 3)?,
            mid: MidBlock::load(l, "decoder.mid", ch[n - 1])?,
            up,
            norm_out: l.norm("decoder.norm_out", ch[0])?,
            conv_out: l.conv("decoder.conv_out", ch[0], cfg.out_channels, 3)?,
            latent_channels: z,
        })
    }

    pub fn forward(&self, gpu: &Gpu, z: FeatureMap, mut trace: Option<&mut Trace>) -> Result<FeatureMap> {
        if z.c != self.latent_channels || z.h == 0 || z.w == 0 {
            return Err(Error::shape("VAE decoder input", format!("[{}, h, w]", self.latent_channels), [z.c, z.h, z.w]));
        }
        let act = DType::act(gpu.act());
        let z = match &self.post_quant_conv {
            Some(p) => p.same(gpu, &z, act)?,
            None => z,
        };
        let mut x = self.conv_in.same(gpu, &z, act)?;
        drop(z);
        record(gpu, &mut trace, "decoder.conv_in", &x)?;
        x = self.mid.forward(gpu, x)?;
        record(gpu, &mut trace, "decoder.mid", &x)?;
        for (i, level) in self.up.iter().enumerate().rev() {
            for b in &level.block {
                x = b.forward(gpu, x)?;
            }
            if let Some(u) = &level.upsample {
                x = u.forward(gpu, x)?;
            }
            record(gpu, &mut trace, &format!("decoder.up.{i}"), &x)?;
        }
        let t = self.norm_out.run(gpu, &x, true)?;
        drop(x);
        self.conv_out.same(gpu, &t, DType::F32)
    }
}
