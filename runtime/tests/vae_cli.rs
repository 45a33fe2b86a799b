//! `x2edit stage vae-encode` / `vae-decode` on the fixtures (the stage contract), from the BFL
//! file and through --model-dir, and their errors. The CLI is built with the cargo running
//! this test (its lock is free while tests run) and found from cargo's artifact messages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use x2edit_quantize::Checkpoint;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

fn x2edit() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["build", "--release", "-p", "x2edit-cli", "--bin", "x2edit", "--message-format", "json"])
            .current_dir(root())
            .output()
            .expect("running cargo");
        assert!(out.status.success(), "building the CLI: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let exe = text
            .lines()
            .filter(|l| l.contains("\"compiler-artifact\"") && l.contains("\"name\":\"x2edit\""))
            .find_map(|l| l.split("\"executable\":\"").nth(1).and_then(|r| r.split('"').next()))
            .expect("cargo reported no x2edit executable");
        PathBuf::from(exe)
    })
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("x2edit-vae-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn stage(args: &[&str]) -> (bool, String) {
    let out = Command::new(x2edit()).arg("stage").args(args).env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or("/tmp".into())).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn rel_l2(file: &Path, name: &str, expected: &Path) -> f64 {
    let got = Checkpoint::open(file).unwrap();
    let want = Checkpoint::open(expected).unwrap();
    assert_eq!(got.get(name).unwrap().shape, want.get(name).unwrap().shape, "{name}");
    let (g, w) = (got.to_f32(name).unwrap(), want.to_f32(name).unwrap());
    let num: f64 = g.iter().zip(&w).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum();
    let den: f64 = w.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// A one-tensor f32 safetensors file (the format: u64 header length, JSON header, data).
fn write_tensor(path: &Path, name: &str, shape: &[usize]) {
    let n: usize = shape.iter().product();
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!("{{\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[0,{}]}}}}", dims.join(","), 4 * n);
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, 4 * n));
    std::fs::write(path, bytes).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn stage_vae_encode_and_decode_match_the_fixtures() {
    let f = fixtures();
    let enc_out = scratch("latent.safetensors");
    let (ok, err) = stage(&["vae-encode", "--vae", s(&f.join("models/ae.safetensors")), "--inputs", s(&f.join("vae-encode/inputs.safetensors")), "--out", s(&enc_out), "--precision", "f32"]);
    assert!(ok, "{err}");
    let e = rel_l2(&enc_out, "latent_mean", &f.join("vae-encode/expected.safetensors"));
    assert!(e < 1e-4, "vae-encode rel L2 {e:.2e}");

    // --model-dir finds vae/ (the diffusers folder).
    let dec_out = scratch("image.safetensors");
    let (ok, err) = stage(&["vae-decode", "--model-dir", s(&f.join("models")), "--inputs", s(&f.join("vae-decode/inputs.safetensors")), "--out", s(&dec_out), "--precision", "f32"]);
    assert!(ok, "{err}");
    let e = rel_l2(&dec_out, "image_decoded", &f.join("vae-decode/expected.safetensors"));
    assert!(e < 1e-4, "vae-decode rel L2 {e:.2e}");
}

#[test]
fn stage_vae_errors_name_the_tensor_and_leave_no_output() {
    let f = fixtures();
    let out = scratch("never.safetensors");
    // The decode inputs hold `latent`, not `image`.
    let (ok, err) = stage(&["vae-encode", "--vae", s(&f.join("models/vae")), "--inputs", s(&f.join("vae-decode/inputs.safetensors")), "--out", s(&out)]);
    assert!(!ok && err.contains("'image' is missing"), "{err}");
    // A latent of 4 channels where the VAE has 16.
    let bad = scratch("bad-latent.safetensors");
    write_tensor(&bad, "latent", &[1, 4, 6, 10]);
    let (ok, err) = stage(&["vae-decode", "--vae", s(&f.join("models/vae")), "--inputs", s(&bad), "--out", s(&out)]);
    assert!(!ok && err.contains("'latent' has shape [1, 4, 6, 10], expected [1, 16, *, *]"), "{err}");
    // An image whose size is not a multiple of 8.
    write_tensor(&bad, "image", &[1, 3, 12, 16]);
    let (ok, err) = stage(&["vae-encode", "--vae", s(&f.join("models/vae")), "--inputs", s(&bad), "--out", s(&out)]);
    assert!(!ok && err.contains("'image' is 12x16"), "{err}");
    let (ok, err) = stage(&["vae-encode", "--vae", s(&f.join("models/nothing-here")), "--inputs", s(&f.join("vae-encode/inputs.safetensors")), "--out", s(&out)]);
    assert!(!ok && err.contains("nothing-here"), "{err}");
    let (ok, err) = stage(&["vae-encode", "--inputs", s(&f.join("vae-encode/inputs.safetensors")), "--out", s(&out)]);
    assert!(!ok && err.contains("--vae"), "{err}");
    assert!(!out.exists());
}
