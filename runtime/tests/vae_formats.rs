//! VAE weights from our GGUF (converted from the fixture's ae.safetensors: source types kept,
//! and Q8_0, whose convolutions are dequantized at load) against the reference fixtures;
//! configuration from `--vae-config` and the errors that name what is wrong.

mod common;
use common::*;
use std::path::{Path as FsPath, PathBuf};
use x2edit_quantize::convert::{self, Options};
use x2edit_quantize::gguf::writer::GgufWriter;
use x2edit_quantize::{Checkpoint, GgmlType, Metadata, TensorInfo, Value};
use x2edit_runtime::model::vae::{synthetic, Layout, Parts, Planes, Posterior, Vae, VaeConfig, VaeOptions};
use x2edit_runtime::Weights;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("x2edit-vae-formats-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// The converter keeps a VAE's source types (bf16 here) unless a rule asks otherwise.
fn gguf(ty: Option<GgmlType>) -> PathBuf {
    let out = scratch(&format!("vae-{}.gguf", ty.map_or("source", |t| t.name())));
    let rules = ty.map(|t| vec![format!(r"weight$={}", t.name()).parse().unwrap()]).unwrap_or_default();
    let opts = Options { target: None, rules, config: Some(fixtures().join("models/vae/config.json")) };
    convert::convert(&fixtures().join("models/ae.safetensors"), &out, &opts, &mut |_, _| {}).unwrap();
    out
}

/// The fixture's ae.safetensors re-stored as F64, a type the conv kernel cannot read: the
/// loader dequantizes such weights to the activation precision.
fn f64_copy() -> &'static PathBuf {
    static FILE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(write_f64_copy)
}

fn write_f64_copy() -> PathBuf {
    let src = Checkpoint::open(&fixtures().join("models/ae.safetensors")).unwrap();
    let mut header = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    for t in src.tensors() {
        let v = src.to_f32(&t.name).unwrap();
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        header.push(format!("\"{}\":{{\"dtype\":\"F64\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", t.name, dims.join(","), data.len(), data.len() + 8 * v.len()));
        data.extend(v.iter().flat_map(|x| (*x as f64).to_le_bytes()));
    }
    let mut h = format!("{{{}}}", header.join(","));
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(h.as_bytes());
    bytes.extend(data);
    let out = scratch("ae-f64.safetensors");
    std::fs::write(&out, bytes).unwrap();
    out
}

fn fixture(stage: &str, file: &str, name: &str) -> Vec<f32> {
    Checkpoint::open(&fixtures().join(stage).join(file)).unwrap().to_f32(name).unwrap()
}

/// Encode and decode the fixtures with `vae` (loaded on `path`'s GPU); asserts both within `tol`.
fn parity_on(path: Path, what: &str, vae: &Vae, tol: f32) {
    let gpu = gpu(path);
    let image = Planes::new(3, 48, 80, fixture("vae-encode", "inputs.safetensors", "image")).unwrap();
    let z = vae.encode(gpu, &image, &VaeOptions::default(), Posterior::Mean).unwrap();
    assert_close(&format!("{what} latent_mean"), &z.data, &fixture("vae-encode", "expected.safetensors", "latent_mean"), tol);
    let latent = Planes::new(16, 6, 10, fixture("vae-decode", "inputs.safetensors", "latent")).unwrap();
    let y = vae.decode(gpu, &latent, &VaeOptions::default()).unwrap();
    assert_close(&format!("{what} image_decoded"), &y.data, &fixture("vae-decode", "expected.safetensors", "image_decoded"), tol);
}

#[test]
fn gguf_with_source_types_matches_the_fixtures() {
    let vae = Vae::open(gpu(Path::F32), &gguf(None), None, Parts::Both).unwrap();
    assert_eq!((vae.layout, vae.config.norm_groups, vae.config.block_out_channels.clone()), (Layout::Bfl, 32, vec![64, 32, 32, 32]));
    parity("GGUF (bf16)", &vae, 1e-4);
}

/// A rule asking for F16 everywhere: weights converted from bf16 (exact in f16 at these
/// magnitudes). Block types cannot apply to convolutions: ggml blocks run along the kernel
/// width (3, or 1 for 1x1), so the converter stores them as F16 whatever the rule.
#[test]
fn gguf_f16_matches_the_fixtures() {
    let path = gguf(Some(GgmlType::F16));
    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.get("decoder.up.0.block.0.conv2.weight").unwrap().ty, GgmlType::F16);
    let vae = Vae::open(gpu(Path::F32), &path, None, Parts::Both).unwrap();
    parity("GGUF (f16)", &vae, 1e-4);
}

both_paths!(f64_weights_are_converted_at_load_f32, f64_weights_are_converted_at_load_f16, |path: Path| {
    let vae = Vae::open(gpu(path), f64_copy(), None, Parts::Both).unwrap();
    parity_on(path, "F64 safetensors", &vae, if path == Path::F32 { 1e-4 } else { 5e-3 });
});

fn parity(what: &str, vae: &Vae, tol: f32) {
    parity_on(Path::F32, what, vae, tol)
}

fn write_config(name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join("models/vae/config.json")).unwrap();
    let p = scratch(name);
    std::fs::write(&p, edit(&text)).unwrap();
    p
}

fn open_bfl(config: Option<&FsPath>) -> Result<Vae, String> {
    Vae::open(gpu(Path::F32), &fixtures().join("models/ae.safetensors"), config, Parts::Both).map_err(|e| e.to_string())
}

#[test]
fn vae_config_completes_and_is_checked_against_the_shapes() {
    // A single file alone: group count 32 by default.
    assert_eq!(open_bfl(None).unwrap().config.norm_groups, 32);
    let groups16 = write_config("groups16.json", |t| t.replace("\"norm_num_groups\": 32", "\"norm_num_groups\": 16"));
    let vae = open_bfl(Some(&groups16)).unwrap();
    assert_eq!((vae.config.norm_groups, vae.config.scale, vae.config.shift), (16, 0.3611, 0.1159));

    let wrong = write_config("wrong.json", |t| t.replace("\"layers_per_block\": 1", "\"layers_per_block\": 2"));
    let err = open_bfl(Some(&wrong)).err().unwrap();
    assert!(err.contains("wrong.json") && err.contains("layers_per_block") && err.contains("is 2 but the tensors"), "{err}");

    let odd = write_config("groups7.json", |t| t.replace("\"norm_num_groups\": 32", "\"norm_num_groups\": 7"));
    let err = open_bfl(Some(&odd)).err().unwrap();
    assert!(err.contains("7 groups does not divide 64 channels"), "{err}");
}

#[test]
fn not_a_vae_and_missing_tensors_are_named() {
    let gpu = gpu(Path::F32);
    let err = Vae::open(gpu, &fixtures().join("models/transformer-bfl.safetensors"), None, Parts::Both).err().unwrap().to_string();
    assert!(err.contains("no tensor 'encoder.conv_in.weight'"), "{err}");
    // The decoder alone does not need encoder tensors, and says so when asked to encode.
    let vae = Vae::open(gpu, &fixtures().join("models/vae"), None, Parts::Decoder).unwrap();
    let image = Planes::new(3, 8, 8, vec![0.0; 192]).unwrap();
    let err = vae.encode(gpu, &image, &VaeOptions::default(), Posterior::Mean).err().unwrap().to_string();
    assert!(err.contains("encoder was not loaded"), "{err}");
    let bad = Planes::new(3, 12, 8, vec![0.0; 288]).unwrap();
    let vae = Vae::open(gpu, &fixtures().join("models/vae"), None, Parts::Encoder).unwrap();
    let err = vae.encode(gpu, &bad, &VaeOptions::default(), Posterior::Mean).err().unwrap().to_string();
    assert!(err.contains("VAE encode image"), "{err}");

    // A GGUF lacking one tensor: the error names it.
    let cfg = VaeConfig { block_out_channels: vec![8, 8], layers_per_block: 1, norm_groups: 4, ..VaeConfig::flux() };
    let gone = "decoder.up.1.upsample.conv.bias";
    let infos: Vec<TensorInfo> = synthetic::tensor_shapes(&cfg)
        .into_iter()
        .filter(|(n, _)| n != gone)
        .map(|(name, shape)| TensorInfo { name, ty: GgmlType::F32, shape })
        .collect();
    let mut md = Metadata::new();
    md.set("general.architecture", Value::String("flux_vae".into()));
    md.set("flux_vae.norm_groups", Value::U32(4));
    let mut w = GgufWriter::new(Vec::new(), "partial.gguf", &md, infos.clone()).unwrap();
    for t in &infos {
        w.write_data(&vec![0u8; t.n_bytes().unwrap()]).unwrap();
    }
    let ck = Checkpoint::from_bytes("partial.gguf", w.finish().unwrap()).unwrap();
    let err = Vae::load(gpu, &Weights::new(ck), None, Parts::Both).err().unwrap().to_string();
    assert!(err.contains(gone) && err.contains("missing"), "{err}");
}
