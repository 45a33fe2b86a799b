//! The `x2edit` command as users run it: stage commands against the fixtures, the schedule,
//! determinism of edits, precision paths, and bad inputs (one clear message, non-zero exit,
//! no output file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_x2edit"));
    c.env("XDG_RUNTIME_DIR", std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()));
    c
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("x2edit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn run(c: &mut Command) -> Output {
    c.output().expect("running x2edit")
}

fn f32s(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name).unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let (n, d) = a.iter().zip(b).fold((0f64, 0f64), |(n, d), (x, y)| (n + ((x - y) as f64).powi(2), d + (*y as f64).powi(2)));
    (n / d).sqrt()
}

#[test]
fn stage_dit_and_sample_match_fixtures() {
    let f = fixtures();
    for (stage, out_name) in [("dit", "velocity"), ("sample", "latent")] {
        let out = tmp(&format!("{stage}.safetensors"));
        let o = run(bin().args(["stage", stage, "--precision", "f32", "--model-dir"]).arg(f.join("models")).arg("--inputs").arg(f.join(format!("{stage}/inputs.safetensors"))).arg("--out").arg(&out));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let err = rel_l2(&f32s(&out, out_name), &f32s(&f.join(format!("{stage}/expected.safetensors")), out_name));
        assert!(err < 1e-4, "{stage}: relative L2 {err}");
    }
}

#[test]
fn schedule_matches_diffusers() {
    let o = run(bin().args(["schedule", "--steps", "4", "--image-tokens", "15"]));
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let got: Vec<f32> = text.trim().trim_matches(['[', ']']).split(',').map(|v| v.trim().parse().unwrap()).collect();
    let want = f32s(&fixtures().join("sample/inputs.safetensors"), "sigmas");
    assert_eq!(got.len(), want.len());
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6), "{got:?} vs {want:?}");
}

fn demo_edit(out: &Path, extra: &[&str]) -> Output {
    run(bin().args(["edit", "--image"]).arg(fixtures().join("edit/source.png")).args(["--prompt", "make the sky a sunset", "--steps", "2", "--seed", "7", "--out"]).arg(out).args(extra))
}

#[test]
fn edit_same_seed_gives_same_file() {
    let (a, b) = (tmp("same-a.png"), tmp("same-b.png"));
    for p in [&a, &b] {
        let o = demo_edit(p, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("embedded demo model"), "says it uses the demo model");
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

fn fail(args: &[&str], extra: impl FnOnce(&mut Command)) -> String {
    let out = tmp(&format!("bad-{}.png", args.join("_").replace(['/', ' '], "")));
    let _ = std::fs::remove_file(&out);
    let mut c = bin();
    c.args(["edit", "--out"]).arg(&out).args(args);
    extra(&mut c);
    let o = run(&mut c);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "expected a failure for {args:?}");
    assert!(!out.exists(), "a failed edit left {}", out.display());
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("x2edit: error:")).collect();
    assert_eq!(lines.len(), 1, "one clear message: {err}");
    lines[0].to_string()
}

/// A PNG whose header claims `w` x `h` pixels (chunk CRCs valid, no pixel data).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc(&ihdr).to_be_bytes());
    png
}

#[test]
fn edit_bad_inputs_fail_cleanly() {
    let src = fixtures().join("edit/source.png");
    let src = src.to_str().unwrap();
    let m = fail(&["--image", "/nonexistent.png", "--prompt", "x"], |_| {});
    assert!(m.contains("/nonexistent.png"), "{m}");
    let garbage = tmp("garbage.png");
    std::fs::write(&garbage, b"not an image at all").unwrap();
    let m = fail(&["--image", garbage.to_str().unwrap(), "--prompt", "x"], |_| {});
    assert!(m.contains("garbage.png"), "{m}");
    let huge = tmp("huge.png");
    std::fs::write(&huge, png_header(100_000, 100_000)).unwrap();
    let m = fail(&["--image", huge.to_str().unwrap(), "--prompt", "x"], |_| {});
    assert!(m.contains("huge.png"), "{m}");
    let m = fail(&["--image", src, "--prompt", "   "], |_| {});
    assert!(m.contains("empty"), "{m}");
    let m = fail(&["--image", src, "--prompt", "x", "--memory-budget", "1K"], |_| {});
    assert!(m.contains("budget"), "{m}");
    let m = fail(&["--image", src, "--prompt", "x", "--transformer", "/nonexistent/transformer.gguf"], |_| {});
    assert!(m.contains("/nonexistent/transformer.gguf"), "{m}");
    let m = fail(&["--image", src, "--prompt", "x", "--task", "banana"], |_| {});
    assert!(m.contains("banana"), "{m}");
    // a .bmp output is refused before any work
    let bmp = tmp("out.bmp");
    let o = run(bin().args(["edit", "--image", src, "--prompt", "x", "--out"]).arg(&bmp));
    assert!(!o.status.success() && !bmp.exists());
}

#[test]
fn edit_mismatched_base_and_adapter() {
    use x2edit_runtime::model::flux::synthetic::{write_adapter, Spec};
    let adapter = tmp("wide-adapter.gguf");
    let spec = Spec { hidden: 96, head_dim: 32, depth: 2, depth_single: 2, mlp: 384, context: 64, vec: 32, experts: 4, rank: 4, ty: x2edit_quantize::GgmlType::F32, align: None };
    write_adapter(&adapter, &spec).unwrap();
    let m = fixtures().join("models");
    let m = m.to_str().unwrap();
    let msg = fail(
        &["--image", fixtures().join("edit/source.png").to_str().unwrap(), "--prompt", "x", "--transformer", &format!("{m}/transformer"), "--text-encoder", &format!("{m}/text_encoder"), "--vae", &format!("{m}/vae")],
        |c| {
            c.arg("--adapter").arg(&adapter);
        },
    );
    assert!(msg.contains("mismatched") || msg.contains("does not match"), "{msg}");
}
