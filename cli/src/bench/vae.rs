//! `x2edit bench vae`: seconds and peak GPU memory of VAE encode and decode for the FLUX VAE's
//! shape (block_out_channels 128, 256, 512, 512; 2 res blocks; 16 latent channels; random
//! weights in f16, made in memory), untiled and tiled. Each pass runs once after the buffer
//! pool is trimmed, so its peak is its own; the first pass also compiles its pipelines.

use super::header;
use crate::GpuArgs;
use std::time::Instant;
use x2edit_quantize::{Checkpoint, GgmlType};
use x2edit_runtime::model::vae::{pass_bytes, synthetic, Parts, Pass, Planes, Posterior, Tile, Vae, VaeConfig, VaeOptions};
use x2edit_runtime::{Gpu, Result, Weights};

#[derive(clap::Args)]
pub struct VaeBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// Image side in pixels (a multiple of 8). FLUX's VAE costs about 4.1 MFLOP per pixel to
    /// encode and 9.4 MFLOP to decode (256x256: 270 and 610 GFLOP), so CPU adapters
    /// (lavapipe) want small sizes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Tile side in pixels for the tiled runs (a multiple of 8, at least 32).
    #[arg(long, default_value_t = 32)]
    pub tile: usize,
    /// Tile overlap in pixels (default: a quarter tile).
    #[arg(long)]
    pub overlap: Option<usize>,
    /// Which passes to time (the defaults take about 20 minutes on a busy 2-core lavapipe).
    #[arg(long, value_parser = ["encode", "decode", "both"], default_value = "both")]
    pub pass: String,
}

const MIB: f64 = 1024.0 * 1024.0;

fn pass(gpu: &Gpu, vae: &Vae, which: Pass, size: usize, opts: &VaeOptions, label: &str, weights: u64) -> Result<()> {
    let lat = size / 8;
    let plan = vae.plan(gpu, which, lat, lat, opts)?;
    let mut noise = 0x1234_5678u32;
    let mut rand = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 17;
                noise ^= noise << 5;
                noise as f32 / u32::MAX as f32 * 2.0 - 1.0
            })
            .collect()
    };
    gpu.trim();
    gpu.reset_peak();
    let t0 = Instant::now();
    match which {
        Pass::Encode => {
            let image = Planes::new(3, size, size, rand(3 * size * size))?;
            vae.encode(gpu, &image, opts, Posterior::Mean)?;
        }
        Pass::Decode => {
            let latent = Planes::new(16, lat, lat, rand(16 * lat * lat))?;
            vae.decode(gpu, &latent, opts)?;
        }
    }
    gpu.sync()?;
    let secs = t0.elapsed().as_secs_f64();
    let peak = gpu.memory().peak.saturating_sub(weights);
    println!(
        "{:<6} {size}x{size} {label:<26} {:>8.2} s  {:>2} tile(s) of {}x{} px  peak {:>8.1} MiB activations (estimate {:.1} MiB) + {:.1} MiB weights",
        format!("{which:?}").to_lowercase(),
        secs,
        plan.tiles(),
        8 * plan.tile_h,
        8 * plan.tile_w,
        peak as f64 / MIB,
        plan.bytes as f64 / MIB,
        weights as f64 / MIB,
    );
    Ok(())
}

fn bench(b: &VaeBench) -> Result<()> {
    let gpu = b.gpu.open()?;
    header(&gpu, "bench vae: FLUX VAE shape (128,256,512,512 x 2 res blocks, f16 random weights)");
    let cfg = VaeConfig::flux();
    let bytes = synthetic::random_gguf(&cfg, 1, GgmlType::F16)?;
    let vae = Vae::load(&gpu, &Weights::new(Checkpoint::from_bytes("random FLUX VAE", bytes)?), None, Parts::Both)?;
    gpu.sync()?;
    let weights = gpu.memory().live;
    let overlap = b.overlap.unwrap_or(b.tile / 4 / 8 * 8);
    let untiled = VaeOptions { tile: Tile::Off, ..Default::default() };
    let tiled = VaeOptions { tile: Tile::Size(b.tile), overlap: Some(overlap), memory_budget: None };
    let tiled_label = format!("tiled {}px overlap {overlap}px", b.tile);
    // What Tile::Auto would do at the edit sizes on this device (no compute).
    for side in [512, 1024] {
        for which in [Pass::Encode, Pass::Decode] {
            let lat = side / 8;
            let p = vae.plan(&gpu, which, lat, lat, &VaeOptions::default())?;
            let untiled_bytes = pass_bytes(&cfg, which, lat, lat, gpu.act().bytes() as u64);
            println!(
                "plan   {side}x{side} {:<6} auto: {} tile(s) of {} px, estimate {:.0} MiB activations per tile (untiled {:.0} MiB, latent {lat}x{lat})",
                format!("{which:?}").to_lowercase(),
                p.tiles(),
                8 * p.tile_h,
                p.bytes as f64 / MIB,
                untiled_bytes as f64 / MIB,
            );
        }
    }
    let passes: &[Pass] = match b.pass.as_str() {
        "encode" => &[Pass::Encode],
        "decode" => &[Pass::Decode],
        _ => &[Pass::Encode, Pass::Decode],
    };
    for &which in passes {
        pass(&gpu, &vae, which, b.size, &untiled, "untiled", weights)?;
        pass(&gpu, &vae, which, b.size, &tiled, &tiled_label, weights)?;
    }
    Ok(())
}

pub fn run(b: &VaeBench) -> std::result::Result<(), String> {
    if !b.size.is_multiple_of(8) || b.size == 0 {
        return Err(format!("--size {}: a positive multiple of 8", b.size));
    }
    bench(b).map_err(|e| e.to_string())
}
