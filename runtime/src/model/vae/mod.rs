//! The FLUX VAE (diffusers `AutoencoderKL` / BFL `AutoEncoder`) on our kernels.
//!
//! Weights come from a diffusers folder, a BFL `ae.safetensors` or our GGUF (`flux_vae`);
//! see `config` for where each size comes from. `encode` returns the posterior mean (or a
//! sample, with noise from the caller) shifted and scaled, `(z - shift) * scale`; `decode`
//! takes such a latent and returns the image, unclamped. Both tile when the untiled pass
//! would not fit (see `tile`). Data crosses the API as host [C, H, W] planes: a pass reads
//! its output back anyway, and tiles are assembled on the CPU.
//!
//! Activations are stored in the GPU's precision (f16 where available); GroupNorm
//! statistics, attention softmax and every accumulation run in f32, and the encoder's
//! moments and the decoder's output are written in f32.

mod blocks;
mod coder;
mod config;
mod layers;
mod names;
pub mod synthetic;
mod tile;

pub use blocks::{Attention, Downsample, ResnetBlock, Upsample};
pub use coder::{Decoder, Encoder, MidBlock, Trace};
pub use config::{VaeConfig, DEFAULT_GROUPS, FLUX_SCALE, FLUX_SHIFT};
pub use layers::FeatureMap;
pub use names::Layout;
pub use tile::{loop_limited, pass_bytes, plan as tile_plan, Pass, Tile, TilePlan, VaeOptions};

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu};
use crate::weights::Weights;
use layers::Loader;
use names::Names;
use std::path::Path;
use x2edit_quantize::Checkpoint;

/// A host tensor [c, h, w] (batch 1), f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Planes {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Planes {
    pub fn new(c: usize, h: usize, w: usize, data: Vec<f32>) -> Result<Planes> {
        if data.len() != c * h * w {
            return Err(Error::shape("planes", [c, h, w], [data.len()]));
        }
        Ok(Planes { c, h, w, data })
    }

    /// Channels `c0..c1` of rows `y0..y0+h`, columns `x0..x0+w`.
    fn crop(&self, c0: usize, c1: usize, y0: usize, x0: usize, h: usize, w: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity((c1 - c0) * h * w);
        for c in c0..c1 {
            for y in y0..y0 + h {
                let row = (c * self.h + y) * self.w + x0;
                out.extend_from_slice(&self.data[row..row + w]);
            }
        }
        out
    }

    /// Uploads as an activation map in the GPU's precision.
    pub fn upload(&self, gpu: &Gpu) -> Result<FeatureMap> {
        let t = gpu.upload_act(&self.data, &[self.c, self.h, self.w], DType::act(gpu.act()))?;
        Ok(FeatureMap { t, c: self.c, h: self.h, w: self.w })
    }
}

/// Which halves to load (the edit pipeline loads each when its stage comes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    Encoder,
    Decoder,
    Both,
}

/// What `encode` takes from the posterior N(mean, exp(logvar)).
#[derive(Clone, Copy, Debug)]
pub enum Posterior<'a> {
    /// The mean (BFL's default; the stage contract).
    Mean,
    /// mean + std * eps, eps [latent, h, w] from the caller's seeded generator (X2Edit's
    /// reference samples; logvar clamped to [-30, 20] as diffusers does).
    Sample(&'a [f32]),
}

pub struct Vae {
    pub config: VaeConfig,
    pub layout: Layout,
    label: String,
    encoder: Option<Encoder>,
    decoder: Option<Decoder>,
}

impl Vae {
    /// Opens a diffusers folder, BFL single file or GGUF; `config_file` (a diffusers
    /// config.json) overrides the folder's own and completes a single file.
    pub fn open(gpu: &Gpu, path: &Path, config_file: Option<&Path>, parts: Parts) -> Result<Vae> {
        let mut ck = Checkpoint::open(path)?;
        if let Some(f) = config_file {
            ck.set_config_file(f)?;
        }
        let from = config_file.map(|f| format!("--vae-config {}", f.display()));
        Vae::load(gpu, &Weights::new(ck), from, parts)
    }

    /// `config_from` names the config.json already in `w`'s metadata when it came from
    /// elsewhere than the checkpoint's folder (for error messages).
    pub fn load(gpu: &Gpu, w: &Weights, config_from: Option<String>, parts: Parts) -> Result<Vae> {
        let names = Names::detect(w)?;
        let mut config = VaeConfig::from_shapes(w, &names)?;
        let gguf = w.metadata().get_str("general.architecture") == Some("flux_vae");
        if gguf {
            config.apply_gguf(w)?;
        }
        let (what, hint) = if w.metadata().config.is_some() {
            let from = config_from.unwrap_or_else(|| format!("{}/config.json", w.label()));
            config.apply_diffusers(w, &from)?;
            (format!("{} with {from}", w.label()), "")
        } else {
            let hint = if gguf { " (flux_vae.norm_groups)" } else { " (a single file cannot tell the group count: pass --vae-config with a diffusers config.json)" };
            (w.label().to_string(), hint)
        };
        config.validate(&what, hint)?;
        let l = Loader { gpu, w, names: &names, groups: config.norm_groups, eps: config.eps };
        let encoder = if parts != Parts::Decoder { Some(Encoder::load(&l, &config)?) } else { None };
        let decoder = if parts != Parts::Encoder { Some(Decoder::load(&l, &config)?) } else { None };
        Ok(Vae { config, layout: names.layout, label: w.label().to_string(), encoder, decoder })
    }

    pub fn encoder(&self) -> Result<&Encoder> {
        self.encoder.as_ref().ok_or_else(|| Error::invalid(&self.label, "the VAE encoder was not loaded"))
    }

    pub fn decoder(&self) -> Result<&Decoder> {
        self.decoder.as_ref().ok_or_else(|| Error::invalid(&self.label, "the VAE decoder was not loaded"))
    }

    /// The tiling a pass over an lh x lw latent would use.
    pub fn plan(&self, gpu: &Gpu, pass: Pass, lh: usize, lw: usize, opts: &VaeOptions) -> Result<TilePlan> {
        tile::plan(gpu, &self.config, pass, lh, lw, opts)
    }

    /// Image [in_channels, H, W] in [-1, 1] (H, W multiples of 8 = `config.factor()`) ->
    /// moments [2 * latent, H/8, W/8] (mean, then logvar), unscaled.
    pub async fn encode_moments_async(&self, gpu: &Gpu, image: &Planes, opts: &VaeOptions) -> Result<Planes> {
        let enc = self.encoder()?;
        let f = self.config.factor();
        if image.c != self.config.in_channels || !image.h.is_multiple_of(f) || !image.w.is_multiple_of(f) || image.h == 0 || image.w == 0 {
            return Err(Error::shape("VAE encode image", format!("[{}, {f}*k, {f}*l]", self.config.in_channels), [image.c, image.h, image.w]));
        }
        let plan = self.plan(gpu, Pass::Encode, image.h / f, image.w / f, opts)?;
        run_tiles(gpu, &plan, image, f, 1, 2 * self.config.latent_channels, |x| enc.forward(gpu, x, None)).await
    }

    /// Image -> `(z - shift) * scale`, z the posterior mean or a sample.
    pub async fn encode_async(&self, gpu: &Gpu, image: &Planes, opts: &VaeOptions, posterior: Posterior<'_>) -> Result<Planes> {
        self.latent_from_moments(&self.encode_moments_async(gpu, image, opts).await?, posterior)
    }

    /// Blocking `encode_moments_async` (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn encode_moments(&self, gpu: &Gpu, image: &Planes, opts: &VaeOptions) -> Result<Planes> {
        pollster::block_on(self.encode_moments_async(gpu, image, opts))
    }

    /// Blocking `encode_async` (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn encode(&self, gpu: &Gpu, image: &Planes, opts: &VaeOptions, posterior: Posterior) -> Result<Planes> {
        pollster::block_on(self.encode_async(gpu, image, opts, posterior))
    }

    /// Blocking `decode_async` (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn decode(&self, gpu: &Gpu, latent: &Planes, opts: &VaeOptions) -> Result<Planes> {
        pollster::block_on(self.decode_async(gpu, latent, opts))
    }

    /// Moments [2 * latent, h, w] -> `(z - shift) * scale`.
    pub fn latent_from_moments(&self, m: &Planes, posterior: Posterior) -> Result<Planes> {
        let z = self.config.latent_channels;
        if m.c != 2 * z {
            return Err(Error::shape("VAE moments", [2 * z, m.h, m.w], [m.c, m.h, m.w]));
        }
        let n = z * m.h * m.w;
        let (mean, logvar) = m.data.split_at(n);
        let (scale, shift) = (self.config.scale, self.config.shift);
        let data: Vec<f32> = match posterior {
            Posterior::Mean => mean.iter().map(|&v| (v - shift) * scale).collect(),
            Posterior::Sample(eps) => {
                if eps.len() != n {
                    return Err(Error::shape("VAE posterior noise", [z, m.h, m.w], [eps.len()]));
                }
                mean.iter().zip(logvar).zip(eps).map(|((&mu, &lv), &e)| (mu + (0.5 * lv.clamp(-30.0, 20.0)).exp() * e - shift) * scale).collect()
            }
        };
        Planes::new(z, m.h, m.w, data)
    }

    /// `(z - shift) * scale` [latent, h, w] -> image [out_channels, 8h, 8w], unclamped.
    pub async fn decode_async(&self, gpu: &Gpu, latent: &Planes, opts: &VaeOptions) -> Result<Planes> {
        let dec = self.decoder()?;
        if latent.c != self.config.latent_channels || latent.h == 0 || latent.w == 0 {
            return Err(Error::shape("VAE decode latent", format!("[{}, h, w]", self.config.latent_channels), [latent.c, latent.h, latent.w]));
        }
        let (scale, shift) = (self.config.scale, self.config.shift);
        let z = Planes { data: latent.data.iter().map(|&v| v / scale + shift).collect(), ..*latent };
        let plan = self.plan(gpu, Pass::Decode, latent.h, latent.w, opts)?;
        run_tiles(gpu, &plan, &z, 1, self.config.factor(), self.config.out_channels, |x| dec.forward(gpu, x, None)).await
    }
}

/// Runs `pass` over every tile of `plan` (input `f_in`, output `f_out` pixels per latent
/// pixel) and blends the outputs.
async fn run_tiles(gpu: &Gpu, plan: &TilePlan, input: &Planes, f_in: usize, f_out: usize, out_c: usize, pass: impl Fn(FeatureMap) -> Result<FeatureMap>) -> Result<Planes> {
    let (th, tw) = (plan.tile_h, plan.tile_w);
    let (oh, ow) = (input.h / f_in * f_out, input.w / f_in * f_out);
    if plan.tiles() == 1 {
        let y = pass(input.upload(gpu)?)?;
        return Planes::new(out_c, oh, ow, gpu.read_f32_async(&y.t).await?);
    }
    let mut out = vec![0f32; out_c * oh * ow];
    let mut wsum = vec![0f32; oh * ow];
    let (sh, sw) = (th * f_out, tw * f_out);
    for (iy, &ty) in plan.ys.iter().enumerate() {
        let wy = tile::ramp(&plan.ys, iy, th, f_out);
        for (ix, &tx) in plan.xs.iter().enumerate() {
            let wx = tile::ramp(&plan.xs, ix, tw, f_out);
            let crop = input.crop(0, input.c, ty * f_in, tx * f_in, th * f_in, tw * f_in);
            let x = Planes { c: input.c, h: th * f_in, w: tw * f_in, data: crop }.upload(gpu)?;
            let y = gpu.read_f32_async(&pass(x)?.t).await?;
            for (i, row) in y.chunks_exact(sw).enumerate() {
                let (c, r) = (i / sh, i % sh);
                let o = (c * oh + ty * f_out + r) * ow + tx * f_out;
                for ((dst, v), w) in out[o..o + sw].iter_mut().zip(row).zip(&wx) {
                    *dst += wy[r] * w * v;
                }
                if c == 0 {
                    let o = (ty * f_out + r) * ow + tx * f_out;
                    for (dst, w) in wsum[o..o + sw].iter_mut().zip(&wx) {
                        *dst += wy[r] * w;
                    }
                }
            }
        }
    }
    for (i, v) in out.iter_mut().enumerate() {
        *v /= wsum[i % (oh * ow)];
    }
    Planes::new(out_c, oh, ow, out)
}
