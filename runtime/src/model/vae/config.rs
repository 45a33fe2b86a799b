//! The VAE's configuration: inferred from tensor shapes (always, so a file and its config can
//! be checked against each other), then completed from our GGUF metadata (`flux_vae.*`) or a
//! diffusers `config.json` (a folder's own, or `--vae-config FILE`). The GroupNorm group count,
//! scale and shift cannot be read from shapes: they default to the FLUX VAE's values.

use super::names::Names;
use crate::error::{Error, Result};
use crate::weights::Weights;

/// BFL `AutoEncoderParams` for FLUX.1 and diffusers' FLUX `vae/config.json` agree on these.
pub const FLUX_SCALE: f32 = 0.3611;
pub const FLUX_SHIFT: f32 = 0.1159;
pub const DEFAULT_GROUPS: usize = 32;

#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Channels per level, encoder order (FLUX: 128, 256, 512, 512).
    pub block_out_channels: Vec<usize>,
    /// Resnets per encoder level; decoder levels have one more.
    pub layers_per_block: usize,
    pub latent_channels: usize,
    pub norm_groups: usize,
    /// GroupNorm epsilon (diffusers AutoencoderKL and BFL both use 1e-6).
    pub eps: f32,
    pub scale: f32,
    pub shift: f32,
    /// SD-style 1x1 `quant_conv` / `post_quant_conv` (absent in FLUX).
    pub quant_conv: bool,
}

impl VaeConfig {
    /// The FLUX.1 VAE (reference/x2edit.md section 9).
    pub fn flux() -> VaeConfig {
        VaeConfig {
            in_channels: 3,
            out_channels: 3,
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 16,
            norm_groups: DEFAULT_GROUPS,
            eps: 1e-6,
            scale: FLUX_SCALE,
            shift: FLUX_SHIFT,
            quant_conv: false,
        }
    }

    /// Channels of the mid block (and of the attention's single head).
    pub fn mid_channels(&self) -> usize {
        *self.block_out_channels.last().unwrap_or(&0)
    }

    pub fn levels(&self) -> usize {
        self.block_out_channels.len()
    }

    /// Image pixels per latent pixel along each axis (8 for FLUX: three downsamples).
    pub fn factor(&self) -> usize {
        1 << self.levels().saturating_sub(1)
    }

    /// Everything shapes tell; group count, scale and shift get the FLUX defaults.
    pub fn from_shapes(w: &Weights, n: &Names) -> Result<VaeConfig> {
        let dim = |bfl: &str, d: usize| -> Result<usize> {
            let s = w.shape(&n.get(bfl))?;
            s.get(d).copied().ok_or_else(|| Error::invalid(format!("{}: {}", w.label(), n.get(bfl)), format!("shape {s:?} has no dim {d}")))
        };
        let levels = n.levels;
        if levels == 0 {
            return Err(Error::invalid(w.label(), "no encoder levels (encoder.down.* / encoder.down_blocks.*) found"));
        }
        let block_out_channels = (0..levels).map(|i| dim(&format!("encoder.down.{i}.block.0.conv1.weight"), 0)).collect::<Result<Vec<_>>>()?;
        let layers_per_block = n.count("encoder.down.0.block.");
        let dec = n.count(&format!("decoder.up.{}.block.", levels - 1));
        if layers_per_block == 0 || dec != layers_per_block + 1 {
            return Err(Error::invalid(w.label(), format!("{layers_per_block} resnets per encoder level but {dec} in the first decoder level (expected one more)")));
        }
        let latent_channels = dim("decoder.conv_in.weight", 1)?;
        let moments = dim("encoder.conv_out.weight", 0)?;
        if moments != 2 * latent_channels {
            return Err(Error::shape(format!("{}: {}", w.label(), n.get("encoder.conv_out.weight")), format!("[{}, ..] (mean and logvar of {latent_channels} channels)", 2 * latent_channels), [moments]));
        }
        Ok(VaeConfig {
            in_channels: dim("encoder.conv_in.weight", 1)?,
            out_channels: dim("decoder.conv_out.weight", 0)?,
            block_out_channels,
            layers_per_block,
            latent_channels,
            quant_conv: w.has(&n.get("quant_conv.weight")),
            ..VaeConfig::flux()
        })
    }

    /// Takes `flux_vae.*` from our GGUF, checking what shapes already said. `flux_vae.ch_mult`
    /// is not checked: integer multiples cannot express every shape (the tiny test VAE's
    /// 64, 32, ...), and the shapes are authoritative.
    pub fn apply_gguf(&mut self, w: &Weights) -> Result<()> {
        let md = w.metadata();
        let what = |k: &str| format!("{}: {k}", w.label());
        let check = |k: &str, want: usize| -> Result<()> {
            match md.get_i64(k) {
                Some(v) if v as usize != want => Err(Error::invalid(what(k), format!("is {v} but the tensors say {want}"))),
                _ => Ok(()),
            }
        };
        check("flux_vae.ch", self.block_out_channels[0])?;
        check("flux_vae.num_res_blocks", self.layers_per_block)?;
        check("flux_vae.z_channels", self.latent_channels)?;
        check("flux_vae.in_channels", self.in_channels)?;
        check("flux_vae.out_channels", self.out_channels)?;
        if let Some(g) = md.get_i64("flux_vae.norm_groups") {
            self.norm_groups = usize::try_from(g).map_err(|_| Error::invalid(what("flux_vae.norm_groups"), format!("{g}")))?;
        }
        if let Some(s) = md.get_f64("flux_vae.scale_factor") {
            self.scale = s as f32;
        }
        if let Some(s) = md.get_f64("flux_vae.shift_factor") {
            self.shift = s as f32;
        }
        Ok(())
    }

    /// Takes a diffusers `AutoencoderKL` config.json (already parsed into the checkpoint's
    /// metadata), checking every size it states against the shapes. `what` names the file.
    pub fn apply_diffusers(&mut self, w: &Weights, what: &str) -> Result<()> {
        let md = w.metadata();
        let get = |k: &str| md.config_value(k).filter(|v| !v.is_null());
        let err = |k: &str, said: String, shapes: String| Error::invalid(format!("{what}: `{k}`"), format!("is {said} but the tensors of {} say {shapes}", w.label()));
        let uint = |k: &str| -> Result<Option<usize>> {
            match get(k) {
                None => Ok(None),
                Some(v) => v.as_u64().map(|x| Some(x as usize)).ok_or_else(|| Error::invalid(format!("{what}: `{k}`"), format!("{v} is not a count"))),
            }
        };
        if let Some(v) = get("block_out_channels") {
            let list: Option<Vec<usize>> = v.as_array().map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect());
            match list {
                Some(l) if l == self.block_out_channels => {}
                _ => return Err(err("block_out_channels", v.to_string(), format!("{:?}", self.block_out_channels))),
            }
        }
        let checks = [("layers_per_block", self.layers_per_block), ("latent_channels", self.latent_channels), ("in_channels", self.in_channels), ("out_channels", self.out_channels)];
        for (k, have) in checks {
            if let Some(x) = uint(k)? {
                if x != have {
                    return Err(err(k, x.to_string(), have.to_string()));
                }
            }
        }
        if let Some(q) = get("use_quant_conv").and_then(|v| v.as_bool()) {
            if q != self.quant_conv {
                return Err(err("use_quant_conv", q.to_string(), format!("quant_conv {}", if self.quant_conv { "present" } else { "absent" })));
            }
        }
        if let Some(g) = uint("norm_num_groups")? {
            self.norm_groups = g;
        }
        if let Some(s) = get("scaling_factor") {
            self.scale = s.as_f64().ok_or_else(|| Error::invalid(format!("{what}: `scaling_factor`"), s.to_string()))? as f32;
        }
        // diffusers' SD VAEs have `shift_factor: null`: no shift.
        match md.config_value("shift_factor") {
            Some(v) if v.is_null() => self.shift = 0.0,
            Some(v) => self.shift = v.as_f64().ok_or_else(|| Error::invalid(format!("{what}: `shift_factor`"), v.to_string()))? as f32,
            None => {}
        }
        Ok(())
    }

    /// Sizes every block relies on: the group count divides every normalised width, and the
    /// attention head (one head of all mid channels) fits the attention kernel.
    pub fn validate(&self, what: &str, hint: &str) -> Result<()> {
        let g = self.norm_groups;
        for &c in &self.block_out_channels {
            if g == 0 || !c.is_multiple_of(g) {
                return Err(Error::invalid(what.to_string(), format!("GroupNorm with {g} groups does not divide {c} channels{hint}")));
            }
        }
        let c = self.mid_channels();
        if c > 512 || !c.is_multiple_of(4) {
            return Err(Error::Unsupported(what.to_string(), format!("mid-block attention over {c} channels (the kernel takes multiples of 4 up to 512)")));
        }
        if !(self.scale.is_finite() && self.scale != 0.0 && self.shift.is_finite()) {
            return Err(Error::invalid(what.to_string(), format!("scale {} / shift {}", self.scale, self.shift)));
        }
        Ok(())
    }
}
