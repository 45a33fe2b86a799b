//! Tiled against untiled VAE passes (a random VAE of the FLUX structure at small widths, so a
//! 128x128 image is cheap on lavapipe): outputs agree within a stated tolerance, tiling lowers
//! the measured peak GPU memory, and `Tile::Auto` tiles exactly when the binding limit or
//! the memory budget demands it.

mod common;
use common::*;
use x2edit_quantize::{Checkpoint, GgmlType};
use x2edit_runtime::model::vae::{synthetic, Parts, Pass, Planes, Posterior, Tile, Vae, VaeConfig, VaeOptions};
use x2edit_runtime::{Gpu, Weights};

/// Widths 4, 8, 8, 8 (a 1x1 shortcut where they change), 4 groups (from the GGUF's
/// metadata: shapes cannot tell), one resnet per encoder level: the FLUX structure, narrow.
fn config() -> VaeConfig {
    VaeConfig { block_out_channels: vec![4, 8, 8, 8], layers_per_block: 1, norm_groups: 4, ..VaeConfig::flux() }
}

fn load(gpu: &Gpu) -> Vae {
    let bytes = synthetic::random_gguf(&config(), 3, GgmlType::F16).unwrap();
    let vae = Vae::load(gpu, &Weights::new(Checkpoint::from_bytes("random VAE", bytes).unwrap()), None, Parts::Both).unwrap();
    assert_eq!(vae.config, config());
    vae
}

/// A 256 x 256 image in 2 x 2 tiles of 192 px overlapping by 64 px.
const SIDE: usize = 256;
const TILE: usize = 192;
const OVERLAP: usize = 64;

/// Tiles see their own GroupNorm statistics, attend only within themselves and meet zero
/// padding at their borders (the decoder's receptive field spans about 13 latent pixels), as
/// in diffusers' tiled VAE, so they differ from the untiled pass by more than rounding.
/// Measured on this random VAE with white-noise inputs: rel L2 6.2e-2 (decode) and 5.9e-2
/// (encode) at 192 px tiles, 1.4e-1 at 128 px, 4.6e-1 at 64 px; the bound leaves margin.
const TILED_TOL: f64 = 0.1;

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// Runs `f` from a trimmed pool and returns its output and the peak bytes it added.
fn measured(gpu: &Gpu, f: impl FnOnce() -> Planes) -> (Planes, u64) {
    gpu.sync().unwrap();
    gpu.trim();
    gpu.reset_peak();
    let base = gpu.memory().live;
    let out = f();
    (out, gpu.memory().peak - base)
}

fn tiled_matches_untiled(path: Path) {
    // A private device: tests running in parallel would share a pool and its peak.
    let gpu = &gpu_with_binding_limit(path, u64::MAX);
    let vae = load(gpu);
    let lat = SIDE / 8;
    let untiled = VaeOptions { tile: Tile::Off, ..Default::default() };
    let tiled = VaeOptions { tile: Tile::Size(TILE), overlap: Some(OVERLAP), memory_budget: None };
    let plan = vae.plan(gpu, Pass::Decode, lat, lat, &tiled).unwrap();
    assert_eq!((plan.tiles(), plan.tile_h, plan.ys.clone()), (4, TILE / 8, vec![0, lat - TILE / 8]));
    let est = |pass, t| vae.plan(gpu, pass, t, t, &untiled).unwrap().bytes;
    let mut rng = Rng::new(11);
    let latent = Planes::new(16, lat, lat, rng.vec(16 * lat * lat, 1.0)).unwrap();
    let mut runs = vec![(Pass::Decode, measured(gpu, || vae.decode(gpu, &latent, &untiled).unwrap()), measured(gpu, || vae.decode(gpu, &latent, &tiled).unwrap()))];
    // The encoder on the f32 path only (each test stays under ~20 s on lavapipe).
    if path == Path::F32 {
        let image = Planes::new(3, SIDE, SIDE, rng.vec(3 * SIDE * SIDE, 1.0)).unwrap();
        let full = measured(gpu, || vae.encode(gpu, &image, &untiled, Posterior::Mean).unwrap());
        runs.push((Pass::Encode, full, measured(gpu, || vae.encode(gpu, &image, &tiled, Posterior::Mean).unwrap())));
    }
    for (pass, (full, full_peak), (tiles, tiled_peak)) in runs {
        let e = rel_l2(&tiles.data, &full.data);
        let (est_full, est_tile) = (est(pass, lat), est(pass, TILE / 8));
        eprintln!("{path:?} {pass:?} {SIDE}x{SIDE}, {TILE} px tiles, {OVERLAP} px overlap: rel L2 {e:.2e}; peak {full_peak} -> {tiled_peak} bytes (estimates {est_full} -> {est_tile})");
        assert!(tiles.data.iter().all(|v| v.is_finite()), "{pass:?}: non-finite tiled output");
        assert!(e < TILED_TOL, "{pass:?} tiled vs untiled: rel L2 {e:.3e}, tolerance {TILED_TOL}");
        // Tiles of (24/32)^2 = 56% of the pixels: the peak drops with them.
        assert!(4 * tiled_peak < 3 * full_peak, "{pass:?} peak: tiled {tiled_peak} vs untiled {full_peak}");
        // The planner's estimate bounds what a pass takes, closely.
        assert!(est_full >= full_peak && est_full < full_peak + full_peak / 4, "{pass:?}: estimate {est_full} vs measured {full_peak}");
    }
}

both_paths!(tiled_matches_untiled_f32, tiled_matches_untiled_f16, tiled_matches_untiled);

/// Auto: untiled when nothing forbids it; tiles under a memory budget (and says when even the
/// smallest tile exceeds it); tiles when a buffer would exceed the binding limit, where Off
/// refuses with a message naming it. The binding-limited run equals the explicitly tiled one.
#[test]
fn auto_tiles_when_the_pass_would_not_fit() {
    let gpu = gpu(Path::F32);
    let vae = load(gpu);
    let lat = 16;
    let auto = VaeOptions::default();
    assert_eq!(vae.plan(gpu, Pass::Decode, lat, lat, &auto).unwrap().tiles(), 1);
    let full = vae.plan(gpu, Pass::Decode, lat, lat, &auto).unwrap().bytes;
    let budget = VaeOptions { memory_budget: Some(full / 2), ..auto };
    let p = vae.plan(gpu, Pass::Decode, lat, lat, &budget).unwrap();
    assert!(p.tiles() > 1 && p.bytes <= full / 2, "{p:?}");
    let tiny = VaeOptions { memory_budget: Some(1000), ..auto };
    let err = vae.plan(gpu, Pass::Encode, lat, lat, &tiny).unwrap_err().to_string();
    assert!(err.contains("memory budget of 1000 bytes"), "{err}");

    // Decoding 16 x 16 latents, the upsample before the last level makes 8 x 128 x 128 f32 =
    // 512 KiB; a 12-latent tile 288 KiB, an 11-latent one 242 KiB: under a 256 KiB limit. Two
    // tiles a side, and 9 latents is the smallest tile that still covers 16 with two (overlap
    // a quarter tile, 2).
    let small = gpu_with_binding_limit(Path::F32, 256 << 10);
    let vae_s = load(&small);
    let p = vae_s.plan(&small, Pass::Decode, lat, lat, &auto).unwrap();
    assert_eq!((p.tiles(), p.tile_h, p.ys.clone()), (4, 9, vec![0, 7]), "{p:?}");
    let off = VaeOptions { tile: Tile::Off, ..auto };
    let err = vae_s.plan(&small, Pass::Decode, lat, lat, &off).unwrap_err().to_string();
    assert!(err.contains("binding limit"), "{err}");
    let latent = Planes::new(16, lat, lat, Rng::new(5).vec(16 * lat * lat, 1.0)).unwrap();
    let got = vae_s.decode(&small, &latent, &auto).unwrap();
    let want = vae.decode(gpu, &latent, &VaeOptions { tile: Tile::Size(72), overlap: Some(16), memory_budget: None }).unwrap();
    assert_close("binding-limited auto decode vs 72 px tiles", &got.data, &want.data, 1e-6);
}
