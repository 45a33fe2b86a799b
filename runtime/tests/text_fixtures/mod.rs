//! Reading the PyTorch reference fixtures (tests/fixtures) for the text-path tests.
#![allow(dead_code)]

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn text_encoder() -> PathBuf {
    fixtures().join("models/text_encoder")
}

pub fn qwen_gguf() -> PathBuf {
    fixtures().join("models/qwen2vl.gguf")
}

pub fn adapter() -> PathBuf {
    fixtures().join("models/adapter")
}

/// A fixture file's tensors, read once.
pub struct Fixture(Vec<u8>, PathBuf);

impl Fixture {
    pub fn open(rel: &str) -> Fixture {
        let p = fixtures().join(rel);
        Fixture(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())), p)
    }

    fn view<R>(&self, name: &str, f: impl FnOnce(Dtype, &[usize], &[u8]) -> R) -> R {
        let st = SafeTensors::deserialize(&self.0).unwrap();
        let t = st.tensor(name).unwrap_or_else(|_| panic!("{}: no tensor {name}", self.1.display()));
        f(t.dtype(), t.shape(), t.data())
    }

    pub fn shape(&self, name: &str) -> Vec<usize> {
        self.view(name, |_, s, _| s.to_vec())
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        self.view(name, |d, _, b| {
            assert_eq!(d, Dtype::F32, "{name}");
            b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        })
    }

    pub fn i64(&self, name: &str) -> Vec<i64> {
        self.view(name, |d, _, b| {
            assert_eq!(d, Dtype::I64, "{name}");
            b.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
        })
    }

    pub fn u32(&self, name: &str) -> Vec<u32> {
        self.i64(name).into_iter().map(|v| v as u32).collect()
    }
}

/// Relative L2 error ||a - b|| / ||b||, failing on non-finite values.
pub fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    if let Some(i) = got.iter().position(|v| !v.is_finite()) {
        panic!("non-finite output {} at {i}", got[i]);
    }
    let (mut n, mut d) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        n += (g as f64 - w as f64).powi(2);
        d += (w as f64).powi(2);
    }
    (n / d.max(1e-60)).sqrt()
}

/// Asserts rel L2 <= tol and prints the figure (the note quotes them).
pub fn check(what: &str, got: &[f32], want: &[f32], tol: f64) {
    let e = rel_l2(got, want);
    println!("{what}: rel L2 {e:.3e} (tolerance {tol:.0e})");
    assert!(e <= tol, "{what}: rel L2 {e:.3e} > {tol:.0e}");
}
