//! `x2edit stage text|align|tokenize` as a user runs them, on the tiny fixtures.

use safetensors::SafeTensors;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn out_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("x2edit-stage-text-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn x2edit(args: &[&str]) -> std::process::Output {
    let o = Command::new(env!("CARGO_BIN_EXE_x2edit")).args(args).output().unwrap();
    println!("{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f32s(bytes: &[u8], name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let t = st.tensor(name).unwrap();
    (t.shape().to_vec(), t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
}

fn i64s(bytes: &[u8], name: &str) -> Vec<i64> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    st.tensor(name).unwrap().data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let n: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let d: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (n / d).sqrt()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn stage_text_matches_the_reference() {
    let f = fixtures();
    let out = out_dir().join("text.safetensors");
    let o = x2edit(&[
        "stage", "text", "--precision", "f32", "--stream",
        "--text-encoder", p(&f.join("models/text_encoder")),
        "--adapter", p(&f.join("models/adapter")),
        "--inputs", p(&f.join("text/inputs.safetensors")),
        "--out", p(&out),
    ]);
    assert!(o.status.success());
    let got = read(&out);
    let want = read(&f.join("text/expected.safetensors"));
    for name in ["hidden_states", "prompt_embeds", "pooled"] {
        let (gs, g) = f32s(&got, name);
        let (ws, w) = f32s(&want, name);
        assert_eq!(gs, ws, "{name} shape");
        let e = rel_l2(&g, &w);
        assert!(e < 1e-4, "{name}: rel L2 {e:.3e}");
    }
}

#[test]
fn stage_align_and_tokenize() {
    let f = fixtures();
    let out = out_dir().join("align.safetensors");
    let o = x2edit(&["stage", "align", "--precision", "f32", "--model-dir", p(&f.join("models")), "--inputs", p(&f.join("align/inputs.safetensors")), "--out", p(&out)]);
    assert!(o.status.success());
    let (got, want) = (read(&out), read(&f.join("align/expected.safetensors")));
    for name in ["prompt_embeds", "pooled"] {
        assert!(rel_l2(&f32s(&got, name).1, &f32s(&want, name).1) < 1e-4, "{name}");
    }
    let out = out_dir().join("tok.safetensors");
    let prompt = "Change the color of the car to red.";
    let o = x2edit(&["stage", "tokenize", "--text-encoder", p(&f.join("models/qwen2vl.gguf")), "--prompt", prompt, "--out", p(&out)]);
    assert!(o.status.success());
    let want = read(&f.join("text/inputs.safetensors"));
    let got = read(&out);
    assert_eq!(i64s(&got, "input_ids"), i64s(&want, "input_ids"));
    assert_eq!(i64s(&got, "attention_mask"), i64s(&want, "attention_mask"));
}

#[test]
fn stage_text_errors_name_what_is_wrong() {
    let f = fixtures();
    let out = out_dir().join("bad.safetensors");
    // align inputs lack input_ids
    let o = x2edit(&["stage", "text", "--model-dir", p(&f.join("models")), "--inputs", p(&f.join("align/inputs.safetensors")), "--out", p(&out)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("input_ids"));
    assert!(!out.exists(), "a failed stage leaves no output");
    let o = x2edit(&["stage", "tokenize", "--text-encoder", p(&f.join("models/adapter")), "--prompt", "x", "--out", p(&out)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("tokenizer"));
}
