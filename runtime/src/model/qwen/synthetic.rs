//! Qwen2.5-VL-shaped text encoders with random weights (our `qwen2vl` GGUF names): what
//! `bench text` and `bench edit` run at full width without downloading anything. Weights are
//! valid blocks of 16 random rows, tiled, so files of gigabytes are written at memory speed.

use crate::error::Result;
use x2edit_quantize::gguf::writer::GgufWriter;
use x2edit_quantize::{codec, GgmlType, Metadata, TensorInfo, Value};

use super::QwenConfig;
use crate::model::rng::Rng;


/// One tensor of the synthetic file: name, type, PyTorch shape.
/// Matrices whose rows `ty`'s blocks do not divide (narrowed test widths) are stored as F16.
fn tensor(name: String, ty: GgmlType, shape: &[usize]) -> TensorInfo {
    let k = *shape.last().unwrap_or(&1);
    let ty = if shape.len() == 2 && !k.is_multiple_of(ty.block_elems()) { GgmlType::F16 } else { ty };
    TensorInfo { name, ty, shape: shape.to_vec() }
}

/// A qwen2vl GGUF with `c`'s sizes and every layer matrix in `ty`, in memory, with the
/// `tokenizer.*` entries of `tokenizer` when given (a whole edit needs one; its ids must fit
/// `c.vocab_size`).
pub fn gguf(c: &QwenConfig, ty: GgmlType, tokenizer: Option<&Metadata>) -> Result<Vec<u8>> {
    let (h, kv, f) = (c.hidden_size, c.kv_width(), c.intermediate_size);
    let mut md = Metadata::new();
    md.set("general.architecture", Value::String("qwen2vl".into()));
    for (k, v) in [("embedding_length", h), ("block_count", c.num_hidden_layers), ("feed_forward_length", f), ("attention.head_count", c.num_attention_heads), ("attention.head_count_kv", c.num_key_value_heads), ("context_length", 32768)] {
        md.set(format!("qwen2vl.{k}"), Value::U32(v as u32));
    }
    md.set("qwen2vl.attention.layer_norm_rms_epsilon", Value::F32(c.rms_norm_eps));
    md.set("qwen2vl.rope.freq_base", Value::F32(c.rope_theta as f32));
    for (k, v) in tokenizer.iter().flat_map(|t| t.iter()).filter(|(k, _)| k.starts_with("tokenizer.")) {
        md.set(k, v.clone());
    }
    let mut infos = vec![tensor("token_embd.weight".into(), GgmlType::F16, &[c.vocab_size, h])];
    for i in 0..c.num_hidden_layers {
        let b = |s: &str| format!("blk.{i}.{s}");
        infos.push(tensor(b("attn_norm.weight"), GgmlType::F32, &[h]));
        for (s, n) in [("attn_q", h), ("attn_k", kv), ("attn_v", kv)] {
            infos.push(tensor(b(&format!("{s}.weight")), ty, &[n, h]));
            infos.push(tensor(b(&format!("{s}.bias")), GgmlType::F32, &[n]));
        }
        infos.push(tensor(b("attn_output.weight"), ty, &[h, h]));
        infos.push(tensor(b("ffn_norm.weight"), GgmlType::F32, &[h]));
        infos.push(tensor(b("ffn_gate.weight"), ty, &[f, h]));
        infos.push(tensor(b("ffn_up.weight"), ty, &[f, h]));
        infos.push(tensor(b("ffn_down.weight"), ty, &[h, f]));
    }
    infos.push(tensor("output_norm.weight".into(), GgmlType::F32, &[h]));
    let mut w = GgufWriter::new(Vec::new(), "synthetic", &md, infos.clone())?;
    let mut rng = Rng(0x5eed_1234_abcd);
    for t in &infos {
        let (n, k) = (t.shape[0], t.shape.get(1).copied().unwrap_or(1));
        let rows = if t.shape.len() == 1 { 1 } else { n };
        let cols = if t.shape.len() == 1 { n } else { k };
        // 16 random rows (N(0,1)/sqrt(k)-like; norms near 1), tiled: real sizes, real formats.
        let scale = if t.shape.len() == 1 { 0.1 } else { 1.7 / (cols as f32).sqrt() };
        let row_bytes = t.ty.row_bytes(cols)?;
        let mut pattern = vec![0u8; 16 * row_bytes];
        for r in 0..16 {
            let src: Vec<f32> = (0..cols).map(|_| rng.f32() * scale + if t.shape.len() == 1 { 1.0 } else { 0.0 }).collect();
            codec::quantize_row(t.ty, &src, &mut pattern[r * row_bytes..(r + 1) * row_bytes])?;
        }
        for r0 in (0..rows).step_by(16) {
            let r1 = (r0 + 16).min(rows);
            w.write_data(&pattern[..(r1 - r0) * row_bytes])?;
        }
    }
    Ok(w.finish()?)
}
