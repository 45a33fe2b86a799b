//! Reading the PyTorch reference fixtures (tests/fixtures/<stage>/{inputs,expected}.safetensors).
#![allow(dead_code)]

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A fixture tensor as f32 (ints and uint8 converted) with its shape.
pub struct T {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn load(rel: &str) -> HashMap<String, T> {
    let path = root().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            let d = v.data();
            let data: Vec<f32> = match v.dtype() {
                Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                Dtype::F16 => d.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
                Dtype::BF16 => d.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
                Dtype::I64 => d.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
                Dtype::U8 => d.iter().map(|&b| b as f32).collect(),
                other => panic!("{name}: dtype {other:?}"),
            };
            (name, T { shape: v.shape().to_vec(), data })
        })
        .collect()
}
