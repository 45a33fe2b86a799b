//! Helpers shared by the integration tests: temp folders, deterministic data, safetensors writing.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("x2e-quantize-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Deterministic pseudo-random f32 in [-1, 1) from a name (xorshift seeded by the name's bytes).
pub fn data(name: &str, n: usize) -> Vec<f32> {
    let mut s = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3)) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

pub struct T {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn t(name: &str, shape: &[usize]) -> T {
    let n = shape.iter().product();
    T { name: name.into(), shape: shape.to_vec(), data: data(name, n) }
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes f32 tensors as a safetensors file.
pub fn write_safetensors(path: &Path, ts: &[T], meta: Option<HashMap<String, String>>) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = ts.iter().map(|t| (t.name.clone(), t.shape.clone(), f32_bytes(&t.data))).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes.iter().map(|(n, s, b)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())).collect();
    let out = safetensors::serialize(views, meta).unwrap();
    std::fs::write(path, out).unwrap();
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_x2edit-quantize"))
}

/// Tiny diffusers FLUX transformer: hidden 32 (2 heads x 16), 2 double + 2 single blocks.
pub fn tiny_flux_diffusers(hidden: usize) -> Vec<T> {
    let (inc, ctx, vec, mlp, hd) = (8, 12, 6, 4 * hidden, 16);
    let mut v = vec![
        t("x_embedder.weight", &[hidden, inc]),
        t("x_embedder.bias", &[hidden]),
        t("context_embedder.weight", &[hidden, ctx]),
        t("context_embedder.bias", &[hidden]),
        t("proj_out.weight", &[inc, hidden]),
        t("proj_out.bias", &[inc]),
        t("norm_out.linear.weight", &[2 * hidden, hidden]),
        t("norm_out.linear.bias", &[2 * hidden]),
    ];
    for e in ["timestep_embedder", "text_embedder", "guidance_embedder"] {
        let i = if e == "text_embedder" { vec } else { 256 };
        v.push(t(&format!("time_text_embed.{e}.linear_1.weight"), &[hidden, i]));
        v.push(t(&format!("time_text_embed.{e}.linear_1.bias"), &[hidden]));
        v.push(t(&format!("time_text_embed.{e}.linear_2.weight"), &[hidden, hidden]));
        v.push(t(&format!("time_text_embed.{e}.linear_2.bias"), &[hidden]));
    }
    for n in 0..2 {
        let b = format!("transformer_blocks.{n}");
        for (m, o, i) in [
            ("norm1.linear", 6 * hidden, hidden),
            ("norm1_context.linear", 6 * hidden, hidden),
            ("attn.to_q", hidden, hidden),
            ("attn.to_k", hidden, hidden),
            ("attn.to_v", hidden, hidden),
            ("attn.add_q_proj", hidden, hidden),
            ("attn.add_k_proj", hidden, hidden),
            ("attn.add_v_proj", hidden, hidden),
            ("attn.to_out.0", hidden, hidden),
            ("attn.to_add_out", hidden, hidden),
            ("ff.net.0.proj", mlp, hidden),
            ("ff.net.2", hidden, mlp),
            ("ff_context.net.0.proj", mlp, hidden),
            ("ff_context.net.2", hidden, mlp),
        ] {
            v.push(t(&format!("{b}.{m}.weight"), &[o, i]));
            v.push(t(&format!("{b}.{m}.bias"), &[o]));
        }
        for nm in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"] {
            v.push(t(&format!("{b}.attn.{nm}.weight"), &[hd]));
        }
    }
    for n in 0..2 {
        let b = format!("single_transformer_blocks.{n}");
        for (m, o, i) in [("norm.linear", 3 * hidden, hidden), ("attn.to_q", hidden, hidden), ("attn.to_k", hidden, hidden), ("attn.to_v", hidden, hidden), ("proj_mlp", mlp, hidden), ("proj_out", hidden, hidden + mlp)] {
            v.push(t(&format!("{b}.{m}.weight"), &[o, i]));
            v.push(t(&format!("{b}.{m}.bias"), &[o]));
        }
        for nm in ["norm_q", "norm_k"] {
            v.push(t(&format!("{b}.attn.{nm}.weight"), &[hd]));
        }
    }
    v
}

pub const TINY_FLUX_CONFIG: &str = r#"{"_class_name": "FluxTransformer2DModel", "attention_head_dim": 16, "axes_dims_rope": [4, 6, 6],
 "guidance_embeds": true, "in_channels": 8, "joint_attention_dim": 12, "num_attention_heads": HEADS, "num_layers": 2,
 "num_single_layers": 2, "patch_size": 1, "pooled_projection_dim": 6}"#;

pub fn tiny_flux_config(hidden: usize) -> String {
    TINY_FLUX_CONFIG.replace("HEADS", &(hidden / 16).to_string())
}
