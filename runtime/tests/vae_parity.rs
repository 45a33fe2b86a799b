//! VAE encode/decode against the PyTorch reference fixtures (tests/fixtures/vae-{encode,decode}),
//! from the diffusers folder and the BFL ae.safetensors, on the forced-f32 path (relative L2
//! under 1e-4) and the f16 path (stated tolerance below), intermediates included.

mod common;
use common::*;
use std::path::PathBuf;
use x2edit_quantize::Checkpoint;
use x2edit_runtime::model::vae::{Layout, Parts, Planes, Posterior, Tile, Trace, Vae, VaeOptions};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn read(stage: &str, file: &str, name: &str) -> (Vec<usize>, Vec<f32>) {
    let ck = Checkpoint::open(&fixtures().join(stage).join(file)).unwrap();
    let shape = ck.get(name).unwrap_or_else(|| panic!("{stage}/{file}: no {name}")).shape.clone();
    (shape, ck.to_f32(name).unwrap())
}

fn planes(shape: &[usize], data: Vec<f32>) -> Planes {
    Planes::new(shape[1], shape[2], shape[3], data).unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Source {
    Diffusers,
    Bfl,
}

fn open(path: Path, src: Source, parts: Parts) -> Vae {
    let p = match src {
        Source::Diffusers => fixtures().join("models/vae"),
        Source::Bfl => fixtures().join("models/ae.safetensors"),
    };
    let vae = Vae::open(gpu(path), &p, None, parts).unwrap();
    assert_eq!(vae.layout, if matches!(src, Source::Bfl) { Layout::Bfl } else { Layout::Diffusers });
    assert_eq!(vae.config.block_out_channels, [64, 32, 32, 32]);
    assert_eq!((vae.config.layers_per_block, vae.config.latent_channels, vae.config.norm_groups), (1, 16, 32));
    vae
}

/// f32: the fixtures' 1e-4 contract. f16: activations stored in f16 through ~20 layers
/// (unit roundoff 4.9e-4 per store) against the f32 reference.
fn tol(path: Path) -> f32 {
    match path {
        Path::F32 => 1e-4,
        Path::F16 => 1e-2,
    }
}

fn compare_trace(path: Path, stage: &str, trace: &Trace) {
    for (name, got) in trace {
        let key = format!("debug.{name}");
        let ck = Checkpoint::open(&fixtures().join(stage).join("expected.safetensors")).unwrap();
        if ck.get(&key).is_some() {
            assert_close(&format!("{stage} {key} {path:?}"), got, &ck.to_f32(&key).unwrap(), tol(path));
        }
    }
}

fn encode(path: Path, src: Source) {
    let gpu = gpu(path);
    let vae = open(path, src, Parts::Encoder);
    let (s, img) = read("vae-encode", "inputs.safetensors", "image");
    let image = planes(&s, img);
    // Intermediates first: a failure names the first block that diverges.
    let mut trace = Trace::new();
    let moments = vae.encoder().unwrap().forward(gpu, image.upload(gpu).unwrap(), Some(&mut trace)).unwrap();
    trace.push(("encoder.moments".into(), gpu.read_f32(&moments.t).unwrap()));
    compare_trace(path, "vae-encode", &trace);
    let got = vae.encode(gpu, &image, &VaeOptions { tile: Tile::Off, ..Default::default() }, Posterior::Mean).unwrap();
    let (ws, want) = read("vae-encode", "expected.safetensors", "latent_mean");
    assert_eq!([1, got.c, got.h, got.w], ws[..]);
    assert_close(&format!("latent_mean {src:?} {path:?}"), &got.data, &want, tol(path));
}

fn decode(path: Path, src: Source) {
    let gpu = gpu(path);
    let vae = open(path, src, Parts::Decoder);
    let (s, lat) = read("vae-decode", "inputs.safetensors", "latent");
    let latent = planes(&s, lat);
    let mut trace = Trace::new();
    let z: Vec<f32> = latent.data.iter().map(|v| v / vae.config.scale + vae.config.shift).collect();
    let zp = Planes { data: z, ..latent.clone() };
    vae.decoder().unwrap().forward(gpu, zp.upload(gpu).unwrap(), Some(&mut trace)).unwrap();
    compare_trace(path, "vae-decode", &trace);
    let got = vae.decode(gpu, &latent, &VaeOptions { tile: Tile::Off, ..Default::default() }).unwrap();
    let (ws, want) = read("vae-decode", "expected.safetensors", "image_decoded");
    assert_eq!([1, got.c, got.h, got.w], ws[..]);
    assert_close(&format!("image_decoded {src:?} {path:?}"), &got.data, &want, tol(path));
}

both_paths!(encode_diffusers_f32, encode_diffusers_f16, |p| encode(p, Source::Diffusers));
both_paths!(encode_bfl_f32, encode_bfl_f16, |p| encode(p, Source::Bfl));
both_paths!(decode_diffusers_f32, decode_diffusers_f16, |p| decode(p, Source::Diffusers));
both_paths!(decode_bfl_f32, decode_bfl_f16, |p| decode(p, Source::Bfl));

/// Sampling the posterior: mean + exp(logvar / 2) * eps, then shift and scale; eps = 0 is the mean.
#[test]
fn posterior_sample_uses_the_given_noise() {
    let gpu = gpu(Path::F32);
    let vae = open(Path::F32, Source::Bfl, Parts::Encoder);
    let (s, img) = read("vae-encode", "inputs.safetensors", "image");
    let image = planes(&s, img);
    let opts = VaeOptions::default();
    let mean = vae.encode(gpu, &image, &opts, Posterior::Mean).unwrap();
    let zero = vec![0f32; mean.data.len()];
    assert_eq!(vae.encode(gpu, &image, &opts, Posterior::Sample(&zero)).unwrap(), mean);
    let eps = Rng::new(7).vec(mean.data.len(), 1.0);
    let m = vae.encode_moments(gpu, &image, &opts).unwrap();
    let n = mean.data.len();
    let want: Vec<f32> = (0..n).map(|i| (m.data[i] + (0.5 * m.data[n + i].clamp(-30.0, 20.0)).exp() * eps[i] - vae.config.shift) * vae.config.scale).collect();
    let got = vae.encode(gpu, &image, &opts, Posterior::Sample(&eps)).unwrap();
    assert_close("posterior sample", &got.data, &want, 1e-6);
    assert!(vae.encode(gpu, &image, &opts, Posterior::Sample(&eps[1..])).unwrap_err().to_string().contains("posterior noise"));
}
