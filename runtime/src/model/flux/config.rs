//! FLUX transformer configuration: from a diffusers config.json, our GGUF metadata (`flux.*`),
//! or inferred from tensor shapes; `--transformer-config` overrides. Named presets document the
//! released bases.

use super::names::{FluxWeights, Naming};
use crate::error::{Error, Result};
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct FluxConfig {
    pub hidden: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub depth: usize,
    pub depth_single: usize,
    pub mlp_hidden: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub context_dim: usize,
    pub vec_dim: usize,
    /// The base embeds guidance (FLUX.1-dev, Krea-dev); schnell-like bases ignore it.
    pub guidance_embed: bool,
    pub axes_dims: [usize; 3],
    pub theta: f64,
}

/// Released FLUX.1 bases. Architecturally dev and Krea-dev embed guidance; schnell and
/// shuttle-3-diffusion (a schnell derivative) do not (sources: BFL flux `util.py` configs,
/// diffusers transformer configs of black-forest-labs/FLUX.1-{dev,schnell,Krea-dev} and
/// shuttleai/shuttle-3-diffusion: `guidance_embeds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Dev,
    Schnell,
    KreaDev,
    Shuttle3Diffusion,
}

impl Preset {
    pub fn config(self) -> FluxConfig {
        FluxConfig {
            hidden: 3072,
            heads: 24,
            head_dim: 128,
            depth: 19,
            depth_single: 38,
            mlp_hidden: 12288,
            in_channels: 64,
            out_channels: 64,
            context_dim: 4096,
            vec_dim: 768,
            guidance_embed: matches!(self, Preset::Dev | Preset::KreaDev),
            axes_dims: [16, 56, 56],
            theta: 10000.0,
        }
    }
}

fn json_usize(v: &serde_json::Value, key: &str) -> Option<usize> {
    v.get(key).and_then(|x| x.as_u64()).map(|x| x as usize)
}

impl FluxConfig {
    /// Shapes first; then metadata or a config file fill and check what shapes cannot say.
    pub fn load(w: &FluxWeights, config_file: Option<&Path>) -> Result<FluxConfig> {
        let label = w.weights().label().to_string();
        let shape = |bfl: &str, diff: &str| -> Result<Vec<usize>> {
            match w.naming() {
                Naming::Bfl => w.weights().shape(bfl),
                Naming::Diffusers => w.weights().shape(diff),
            }
        };
        let img_in = shape("img_in.weight", "x_embedder.weight")?;
        let qn = shape("double_blocks.0.img_attn.norm.query_norm.scale", "transformer_blocks.0.attn.norm_q.weight")?;
        let count = |bfl: &str, diff: &str| {
            let mut n = 0;
            while w.weights().has(&match w.naming() {
                Naming::Bfl => bfl.replace("{}", &n.to_string()),
                Naming::Diffusers => diff.replace("{}", &n.to_string()),
            }) {
                n += 1;
            }
            n
        };
        let hidden = img_in[0];
        let head_dim = qn[0];
        if head_dim == 0 || hidden % head_dim != 0 {
            return Err(Error::invalid(&label, format!("hidden {hidden} is not a multiple of the head dim {head_dim}")));
        }
        let meta = w.weights().metadata();
        let mut c = FluxConfig {
            hidden,
            heads: hidden / head_dim,
            head_dim,
            depth: count("double_blocks.{}.img_mod.lin.weight", "transformer_blocks.{}.norm1.linear.weight"),
            depth_single: count("single_blocks.{}.modulation.lin.weight", "single_transformer_blocks.{}.norm.linear.weight"),
            mlp_hidden: shape("double_blocks.0.img_mlp.0.weight", "transformer_blocks.0.ff.net.0.proj.weight")?[0],
            in_channels: img_in[1],
            out_channels: shape("final_layer.linear.weight", "proj_out.weight")?[0],
            context_dim: shape("txt_in.weight", "context_embedder.weight")?[1],
            vec_dim: shape("vector_in.in_layer.weight", "time_text_embed.text_embedder.linear_1.weight")?[1],
            guidance_embed: w.weights().has(match w.naming() {
                Naming::Bfl => "guidance_in.in_layer.weight",
                Naming::Diffusers => "time_text_embed.guidance_embedder.linear_1.weight",
            }),
            axes_dims: [0; 3],
            theta: meta.get_f64("flux.theta").unwrap_or(10000.0),
        };
        let mut axes: Option<Vec<usize>> = meta
            .get("flux.axes_dims_rope")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_i64()).map(|x| x as usize).collect());
        let mut json: Option<serde_json::Value> = meta.config_value("axes_dims_rope").map(|_| serde_json::Value::Null);
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
            json = Some(serde_json::from_str(&text).map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?);
        } else if let Some(v) = meta.config_value("axes_dims_rope") {
            json = Some(serde_json::json!({ "axes_dims_rope": v.clone() }));
        }
        if let Some(j) = &json {
            if let Some(a) = j.get("axes_dims_rope").and_then(|a| a.as_array()) {
                axes = Some(a.iter().filter_map(|x| x.as_u64()).map(|x| x as usize).collect());
            }
            // A config may only confirm what the shapes say.
            for (key, have) in [("num_layers", c.depth), ("num_single_layers", c.depth_single), ("attention_head_dim", c.head_dim), ("num_attention_heads", c.heads), ("joint_attention_dim", c.context_dim), ("pooled_projection_dim", c.vec_dim)] {
                if let Some(v) = json_usize(j, key) {
                    if v != have {
                        return Err(Error::invalid(&label, format!("config says {key} = {v} but the weights have {have}")));
                    }
                }
            }
        }
        c.axes_dims = match axes {
            Some(a) if a.len() == 3 && a.iter().sum::<usize>() == c.head_dim => [a[0], a[1], a[2]],
            Some(a) => return Err(Error::invalid(&label, format!("axes_dims_rope {a:?} must be 3 dims summing to the head dim {}", c.head_dim))),
            None if c.head_dim == 128 => [16, 56, 56],
            None => {
                return Err(Error::invalid(
                    &label,
                    format!("head dim {} is not FLUX's 128: pass --transformer-config with axes_dims_rope", c.head_dim),
                ))
            }
        };
        if c.depth == 0 && c.depth_single == 0 {
            return Err(Error::invalid(&label, "no transformer blocks found"));
        }
        Ok(c)
    }
}
