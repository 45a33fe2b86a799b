//! FLUX-shaped checkpoints with random weights (BFL names, `flux.*` metadata) and matching
//! X2Edit adapters, written as GGUF: what `bench dit` and `bench edit` run at full width
//! without downloading anything.

use crate::error::{Error, Result};
use crate::model::rng::Rng;
use std::io::BufWriter;
use std::path::Path;
use x2edit_quantize::gguf::writer::GgufWriter;
use x2edit_quantize::{codec, GgmlType, Metadata, TensorInfo, Value};

/// Sizes of a synthetic model. `full(d, s)` is FLUX.1-dev's width with d + s blocks.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub hidden: usize,
    pub head_dim: usize,
    pub depth: usize,
    pub depth_single: usize,
    pub mlp: usize,
    pub context: usize,
    pub vec: usize,
    pub experts: usize,
    pub rank: usize,
    /// Storage type of the blocks' matrices (embedders, norms and biases stay f32).
    pub ty: GgmlType,
    /// AlignNet in the adapter (what a whole edit needs; `bench dit` runs without).
    pub align: Option<AlignSpec>,
}

/// AlignNet's sizes: the text encoder's hidden states in (`channels` = its layers + 1, width
/// `text_hidden`), the transformer's context and pooled widths out.
#[derive(Clone, Copy, Debug)]
pub struct AlignSpec {
    pub channels: usize,
    pub text_hidden: usize,
}

impl Spec {
    pub fn full(depth: usize, depth_single: usize, ty: GgmlType) -> Spec {
        Spec { hidden: 3072, head_dim: 128, depth, depth_single, mlp: 12288, context: 4096, vec: 768, experts: 12, rank: 64, ty, align: None }
    }
}

fn tensors(s: &Spec) -> Vec<(String, Vec<usize>, bool)> {
    let h = s.hidden;
    let mut t: Vec<(String, Vec<usize>, bool)> = Vec::new();
    let mut lin = |name: String, n: usize, k: usize, block: bool| {
        t.push((format!("{name}.weight"), vec![n, k], block));
        t.push((format!("{name}.bias"), vec![n], false));
    };
    lin("img_in".into(), h, 64, false);
    lin("txt_in".into(), h, s.context, false);
    for (m, k) in [("time_in", 256), ("vector_in", s.vec), ("guidance_in", 256)] {
        lin(format!("{m}.in_layer"), h, k, false);
        lin(format!("{m}.out_layer"), h, h, false);
    }
    for i in 0..s.depth {
        for st in ["img", "txt"] {
            let b = format!("double_blocks.{i}.{st}");
            lin(format!("{b}_mod.lin"), 6 * h, h, true);
            lin(format!("{b}_attn.qkv"), 3 * h, h, true);
            lin(format!("{b}_attn.proj"), h, h, true);
            lin(format!("{b}_mlp.0"), s.mlp, h, true);
            lin(format!("{b}_mlp.2"), h, s.mlp, true);
        }
    }
    for i in 0..s.depth_single {
        let b = format!("single_blocks.{i}");
        lin(format!("{b}.modulation.lin"), 3 * h, h, true);
        lin(format!("{b}.linear1"), 3 * h + s.mlp, h, true);
        lin(format!("{b}.linear2"), h, h + s.mlp, true);
    }
    lin("final_layer.adaLN_modulation.1".into(), 2 * h, h, false);
    lin("final_layer.linear".into(), 64, h, false);
    for i in 0..s.depth {
        for st in ["img", "txt"] {
            for nm in ["query_norm", "key_norm"] {
                t.push((format!("double_blocks.{i}.{st}_attn.norm.{nm}.scale"), vec![s.head_dim], false));
            }
        }
    }
    for i in 0..s.depth_single {
        for nm in ["query_norm", "key_norm"] {
            t.push((format!("single_blocks.{i}.norm.{nm}.scale"), vec![s.head_dim], false));
        }
    }
    t
}

fn adapter_tensors(s: &Spec) -> Vec<(String, Vec<usize>, bool)> {
    let h = s.hidden;
    let mut t = vec![("task_embedding.weight".to_string(), vec![16, h], false)];
    let layers = (0..s.depth).flat_map(|i| ["q", "k", "v", "proj"].map(|p| format!("transformer_blocks.{i}.attn.processor.{p}_moe_lora")))
        .chain((0..s.depth_single).flat_map(|i| ["q", "k", "v"].map(|p| format!("single_transformer_blocks.{i}.attn.processor.{p}_moe_lora"))));
    for l in layers {
        for e in 0..s.experts {
            t.push((format!("{l}.experts.{e}.down.weight"), vec![s.rank, h], true));
            t.push((format!("{l}.experts.{e}.up.weight"), vec![h, s.rank], true));
        }
        t.push((format!("{l}.shared_experts.down.weight"), vec![s.rank, h], true));
        t.push((format!("{l}.shared_experts.up.weight"), vec![h, s.rank], true));
        t.push((format!("{l}.gate.weight"), vec![s.experts, 2 * h], false));
    }
    // AlignNet stays f32, as X2Edit releases it (and as the memory plan counts it)
    if let Some(a) = s.align {
        let (th, d) = (a.text_hidden, s.context);
        t.push(("alignnet.conv.weight".into(), vec![1, a.channels, 5, 5], false));
        t.push(("alignnet.conv.bias".into(), vec![1], false));
        t.push(("alignnet.mlp.layernorm.weight".into(), vec![th], false));
        t.push(("alignnet.mlp.layernorm.bias".into(), vec![th], false));
        t.push(("alignnet.mlp.projector.0.weight".into(), vec![d, th], false));
        t.push(("alignnet.mlp.projector.2.weight".into(), vec![d, d], false));
        t.push(("alignnet.mlp.fc.1.weight".into(), vec![s.vec, d], false));
        t.push(("alignnet.mlp.fc.1.bias".into(), vec![s.vec], false));
    }
    t
}

/// xorshift rows: 8 distinct random rows per (type, width), repeated, so files of gigabytes are
/// written at disk speed.
fn write(path: &Path, meta: Metadata, list: Vec<(String, Vec<usize>, bool)>, ty_block: GgmlType, scale: f32) -> Result<()> {
    let infos: Vec<TensorInfo> = list
        .iter()
        .map(|(n, shape, block)| {
            let k = *shape.last().unwrap_or(&1);
            let ty = if *block && k % ty_block.block_elems() == 0 && shape.len() == 2 { ty_block } else { GgmlType::F32 };
            TensorInfo { name: n.clone(), ty, shape: shape.clone() }
        })
        .collect();
    let file = std::fs::File::create(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let mut w = GgufWriter::new(BufWriter::new(file), &path.display().to_string(), &meta, infos.clone())?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for info in &infos {
        let k = *info.shape.last().unwrap_or(&1);
        let rows = info.n_elems() / k.max(1);
        let is_norm = info.name.ends_with(".scale") || info.name.ends_with("layernorm.weight");
        let protos: Vec<Vec<u8>> = (0..8)
            .map(|_| {
                let v: Vec<f32> = (0..k)
                    .map(|_| {
                        let u = rng.f32();
                        if is_norm { 1.0 + 0.1 * u } else { u * scale / (k as f32).sqrt() }
                    })
                    .collect();
                let mut b = vec![0u8; info.ty.row_bytes(k)?];
                codec::quantize_row(info.ty, &v, &mut b)?;
                Ok(b)
            })
            .collect::<Result<_>>()?;
        for r in 0..rows {
            w.write_data(&protos[r % 8])?;
        }
    }
    w.finish()?;
    Ok(())
}

/// A FLUX-shaped transformer GGUF at `path`.
pub fn write_flux(path: &Path, s: &Spec) -> Result<()> {
    let mut m = Metadata::new();
    m.set("general.architecture", Value::String("flux".into()));
    m.set("flux.axes_dims_rope", Value::i32s([s.head_dim as i32 / 8, 7 * s.head_dim as i32 / 16, 7 * s.head_dim as i32 / 16]));
    write(path, m, tensors(s), s.ty, 1.0)
}

/// A matching X2Edit adapter GGUF (LoRA matrices in the same type where their rows allow).
pub fn write_adapter(path: &Path, s: &Spec) -> Result<()> {
    let mut m = Metadata::new();
    m.set("general.architecture", Value::String("x2edit".into()));
    write(path, m, adapter_tensors(s), s.ty, 0.5)
}
