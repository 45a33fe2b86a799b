//! `stage vae-encode`: `image` [1,3,H,W] in [-1,1] -> `latent_mean` [1,16,H/8,W/8], shifted
//! and scaled. `stage vae-decode`: `latent` [1,16,h,w] -> `image_decoded` [1,3,8h,8w],
//! unclamped. Both tile on their own when the untiled pass would not fit the device.

use super::{Io, ModelArgs};
use crate::tensors::{Inputs, Outputs};
use clap::Args;
use x2edit_runtime::model::vae::{Parts, Planes, Posterior, Tile, Vae, VaeOptions};

#[derive(Args, Clone, Debug)]
pub struct VaeArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long, value_parser = ["f32", "f16"])]
    pub precision: Option<String>,
    /// auto (tile only when the untiled pass would not fit), off, or a tile side in pixels.
    #[arg(long, default_value = "auto")]
    pub tile: String,
    /// Overlap of neighbouring tiles in pixels (default: a quarter tile).
    #[arg(long)]
    pub tile_overlap: Option<usize>,
}

fn tile_mode(s: &str) -> Result<Tile, String> {
    match s {
        "auto" => Ok(Tile::Auto),
        "off" => Ok(Tile::Off),
        px => px.parse().map(Tile::Size).map_err(|_| format!("--tile: '{px}' is not auto, off or a size in pixels")),
    }
}

pub fn run(a: &VaeArgs, encode: bool) -> Result<(), String> {
    let opts = VaeOptions { tile: tile_mode(&a.tile)?, overlap: a.tile_overlap, memory_budget: None };
    let path = a.models.vae_path()?;
    let inputs = Inputs::open(&a.io.inputs)?;
    let gpu = super::gpu_args(&a.precision).open().map_err(|e| e.to_string())?;
    let parts = if encode { Parts::Encoder } else { Parts::Decoder };
    let vae = Vae::open(&gpu, &path, a.models.vae_config.as_deref(), parts).map_err(|e| e.to_string())?;
    let cfg = &vae.config;
    let mut out = Outputs::default();
    if encode {
        let x = inputs.f32("image", &[Some(1), Some(cfg.in_channels), None, None])?;
        let (h, w, f) = (x.shape[2], x.shape[3], cfg.factor());
        if h == 0 || w == 0 || !h.is_multiple_of(f) || !w.is_multiple_of(f) {
            return Err(format!("{}: tensor 'image' is {h}x{w}; height and width must be positive multiples of {f}", a.io.inputs.display()));
        }
        let image = Planes::new(cfg.in_channels, h, w, x.data).map_err(|e| e.to_string())?;
        let z = vae.encode(&gpu, &image, &opts, Posterior::Mean).map_err(|e| e.to_string())?;
        out.f32("latent_mean", &[1, z.c, z.h, z.w], &z.data);
    } else {
        let x = inputs.f32("latent", &[Some(1), Some(cfg.latent_channels), None, None])?;
        let (h, w) = (x.shape[2], x.shape[3]);
        if h == 0 || w == 0 {
            return Err(format!("{}: tensor 'latent' is empty ({h}x{w})", a.io.inputs.display()));
        }
        let latent = Planes::new(cfg.latent_channels, h, w, x.data).map_err(|e| e.to_string())?;
        let y = vae.decode(&gpu, &latent, &opts).map_err(|e| e.to_string())?;
        out.f32("image_decoded", &[1, y.c, y.h, y.w], &y.data);
    }
    out.write(&a.io.out)
}
