//! GGUF metadata of our layout, per architecture. Every key is documented in quantize/README.md.

use crate::error::{FormatError, Result};
use crate::metadata::{Metadata, Value};
use crate::names::{self, flux::FluxConfig, x2edit};
use std::collections::HashMap;

fn u32v(x: usize) -> Value {
    Value::U32(x as u32)
}

fn cfg_f32(cfg: Option<&serde_json::Value>, key: &str) -> Option<f32> {
    cfg?.get(key)?.as_f64().map(|v| v as f32)
}
fn cfg_u(cfg: Option<&serde_json::Value>, key: &str) -> Option<usize> {
    cfg?.get(key)?.as_u64().map(|v| v as usize)
}
fn cfg_bool(cfg: Option<&serde_json::Value>, key: &str) -> Option<bool> {
    cfg?.get(key)?.as_bool()
}

/// `flux.*`: the transformer's configuration, inferred from shapes, checked against a diffusers
/// config.json when one is given; scheduler values from the config or a sibling
/// `../scheduler/scheduler_config.json`, else FLUX.1-dev (dynamic shift) or schnell (shift 1) defaults.
pub fn flux(md: &mut Metadata, shapes: &[(String, Vec<usize>)], cfg: Option<&serde_json::Value>, sched: Option<&serde_json::Value>) -> Result<FluxConfig> {
    let c = names::flux::infer_config(shapes)?;
    let checks = [
        ("num_layers", c.depth),
        ("num_single_layers", c.depth_single),
        ("attention_head_dim", c.head_dim),
        ("num_attention_heads", c.num_heads),
        ("in_channels", c.in_channels),
        ("joint_attention_dim", c.context_in_dim),
        ("pooled_projection_dim", c.vec_in_dim),
    ];
    for (k, v) in checks {
        if let Some(x) = cfg_u(cfg, k) {
            if x != v {
                return Err(FormatError::Invalid { what: "config.json".into(), detail: format!("`{k}` is {x} but the tensors say {v}") });
            }
        }
    }
    let axes: Vec<i32> = match cfg.and_then(|c| c.get("axes_dims_rope")).and_then(|v| v.as_array()) {
        Some(a) => a.iter().filter_map(|x| x.as_i64()).map(|x| x as i32).collect(),
        None if c.head_dim == 128 => vec![16, 56, 56],
        None => {
            return Err(FormatError::Invalid { what: "flux.axes_dims_rope".into(), detail: format!("cannot be inferred for head_dim {}: pass --config with a diffusers config.json holding `axes_dims_rope`", c.head_dim) })
        }
    };
    if axes.iter().sum::<i32>() as usize != c.head_dim {
        return Err(FormatError::Invalid { what: "flux.axes_dims_rope".into(), detail: format!("{axes:?} does not sum to head_dim {}", c.head_dim) });
    }
    md.set("flux.hidden_size", u32v(c.hidden_size));
    md.set("flux.num_heads", u32v(c.num_heads));
    md.set("flux.head_dim", u32v(c.head_dim));
    md.set("flux.depth", u32v(c.depth));
    md.set("flux.depth_single", u32v(c.depth_single));
    md.set("flux.in_channels", u32v(c.in_channels));
    md.set("flux.out_channels", u32v(c.out_channels));
    md.set("flux.context_in_dim", u32v(c.context_in_dim));
    md.set("flux.vec_in_dim", u32v(c.vec_in_dim));
    md.set("flux.mlp_ratio", Value::F32(c.mlp_ratio));
    md.set("flux.qkv_bias", Value::Bool(c.qkv_bias));
    md.set("flux.guidance_embed", Value::Bool(c.guidance_embed));
    md.set("flux.axes_dims_rope", Value::i32s(axes));
    md.set("flux.theta", Value::F32(cfg_f32(cfg, "theta").unwrap_or(10000.0)));
    md.set("flux.guidance", Value::F32(cfg_f32(cfg, "guidance").unwrap_or(3.5)));
    // Scheduler: FlowMatchEulerDiscrete values (diffusers scheduler_config.json keys).
    let s = sched.or(cfg);
    let dynamic = cfg_bool(s, "use_dynamic_shifting").unwrap_or(c.guidance_embed);
    md.set("flux.scheduler.use_dynamic_shifting", Value::Bool(dynamic));
    md.set("flux.scheduler.shift", Value::F32(cfg_f32(s, "shift").unwrap_or(if dynamic { 3.0 } else { 1.0 })));
    md.set("flux.scheduler.base_shift", Value::F32(cfg_f32(s, "base_shift").unwrap_or(0.5)));
    md.set("flux.scheduler.max_shift", Value::F32(cfg_f32(s, "max_shift").unwrap_or(1.15)));
    md.set("flux.scheduler.base_image_seq_len", u32v(cfg_u(s, "base_image_seq_len").unwrap_or(256)));
    md.set("flux.scheduler.max_image_seq_len", u32v(cfg_u(s, "max_image_seq_len").unwrap_or(4096)));
    Ok(c)
}

/// `flux_vae.*` from BFL-named shapes.
pub fn vae(md: &mut Metadata, shapes: &[(String, Vec<usize>)], cfg: Option<&serde_json::Value>) -> Result<()> {
    let m: HashMap<&str, &Vec<usize>> = shapes.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let dim = |n: &str, d: usize| m.get(n).and_then(|s| s.get(d).copied()).ok_or_else(|| FormatError::MissingTensor { file: "VAE".into(), tensor: n.into() });
    let ch = dim("encoder.conv_in.weight", 0)?;
    let names: Vec<&str> = m.keys().copied().collect();
    let levels = names::vae::levels(&names);
    let mut mult = Vec::new();
    for i in 0..levels {
        mult.push((dim(&format!("encoder.down.{i}.block.0.conv2.weight"), 0)? / ch.max(1)) as i32);
    }
    let res_blocks = names::count_blocks(names.iter().copied(), "encoder.down.0.block.");
    md.set("flux_vae.in_channels", u32v(dim("encoder.conv_in.weight", 1)?));
    md.set("flux_vae.out_channels", u32v(dim("decoder.conv_out.weight", 0)?));
    md.set("flux_vae.ch", u32v(ch));
    md.set("flux_vae.ch_mult", Value::i32s(mult));
    md.set("flux_vae.num_res_blocks", u32v(res_blocks));
    md.set("flux_vae.z_channels", u32v(dim("decoder.conv_in.weight", 1)?));
    md.set("flux_vae.norm_groups", u32v(cfg_u(cfg, "norm_num_groups").unwrap_or(32)));
    md.set("flux_vae.scale_factor", Value::F32(cfg_f32(cfg, "scaling_factor").unwrap_or(0.3611)));
    md.set("flux_vae.shift_factor", Value::F32(cfg_f32(cfg, "shift_factor").unwrap_or(0.1159)));
    Ok(())
}

/// `x2edit.*` from the released LoRA keys; values that the files cannot tell (top-k, cond offsets)
/// come from `--config` or the X2Edit reference defaults.
pub fn adapter(md: &mut Metadata, shapes: &[(String, Vec<usize>)], cfg: Option<&serde_json::Value>) -> Result<()> {
    let down = shapes.iter().find(|(n, _)| x2edit::is_lora_key(n) && n.ends_with(".down.weight")).ok_or_else(|| FormatError::MissingTensor { file: "X2Edit adapter".into(), tensor: "*_moe_lora.*.down.weight".into() })?;
    let rank = down.1.first().copied().unwrap_or(0);
    let hidden = down.1.get(1).copied().unwrap_or(0);
    let experts = shapes.iter().filter_map(|(n, _)| x2edit::expert_index(n)).max().map_or(0, |m| m + 1);
    let shared = shapes.iter().any(|(n, _)| n.contains(".shared_experts."));
    let names = || shapes.iter().map(|(n, _)| n.as_str());
    md.set("x2edit.lora.rank", u32v(rank));
    md.set("x2edit.lora.alpha", Value::F32(cfg_f32(cfg, "network_alpha").unwrap_or(rank as f32)));
    md.set("x2edit.moe.experts", u32v(experts));
    md.set("x2edit.moe.shared_experts", u32v(shared as usize));
    md.set("x2edit.moe.top_k", u32v(cfg_u(cfg, "top_k").unwrap_or(2)));
    md.set("x2edit.hidden_size", u32v(hidden));
    md.set("x2edit.double_blocks", u32v(names::count_blocks(names(), "transformer_blocks.")));
    md.set("x2edit.single_blocks", u32v(names::count_blocks(names(), "single_transformer_blocks.")));
    if let Some((_, s)) = shapes.iter().find(|(n, _)| n == x2edit::TASK_EMBEDDING) {
        md.set("x2edit.tasks", u32v(s.first().copied().unwrap_or(0)));
    }
    md.set("x2edit.task_labels", Value::strings(x2edit::TASK_LABELS));
    md.set("x2edit.cond_offset", u32v(cfg_u(cfg, "cond_offset").unwrap_or(128)));
    md.set("x2edit.cond_offset_512", u32v(cfg_u(cfg, "cond_offset_512").unwrap_or(64)));
    if let Some(px) = cfg_u(cfg, "native_size") {
        md.set("x2edit.native_size", u32v(px));
    }
    if let Some((_, s)) = shapes.iter().find(|(n, _)| n == "alignnet.conv.weight") {
        md.set("x2edit.alignnet.hidden_states", u32v(s.get(1).copied().unwrap_or(0)));
    }
    Ok(())
}

/// `qwen2vl.*` llama.cpp keys from a Qwen2.5-VL config.json (top level or `text_config`).
pub fn qwen(md: &mut Metadata, cfg: Option<&serde_json::Value>) -> Result<Option<usize>> {
    let root = cfg.ok_or_else(|| FormatError::Invalid { what: "Qwen2.5-VL".into(), detail: "config.json is needed (head counts cannot be inferred): convert the folder or pass --config".into() })?;
    let text = root.get("text_config").filter(|t| t.get("hidden_size").is_some()).unwrap_or(root);
    let get = |k: &str| text.get(k).or_else(|| root.get(k));
    let req = |k: &str| get(k).and_then(|v| v.as_u64()).map(|v| v as usize).ok_or_else(|| FormatError::Invalid { what: "Qwen2.5-VL config.json".into(), detail: format!("missing `{k}`") });
    md.set("qwen2vl.context_length", u32v(req("max_position_embeddings")?));
    md.set("qwen2vl.embedding_length", u32v(req("hidden_size")?));
    md.set("qwen2vl.block_count", u32v(req("num_hidden_layers")?));
    md.set("qwen2vl.feed_forward_length", u32v(req("intermediate_size")?));
    md.set("qwen2vl.attention.head_count", u32v(req("num_attention_heads")?));
    md.set("qwen2vl.attention.head_count_kv", u32v(req("num_key_value_heads")?));
    md.set("qwen2vl.attention.layer_norm_rms_epsilon", Value::F32(get("rms_norm_eps").and_then(|v| v.as_f64()).unwrap_or(1e-6) as f32));
    md.set("qwen2vl.rope.freq_base", Value::F32(get("rope_theta").and_then(|v| v.as_f64()).unwrap_or(1e6) as f32));
    let mut sections: Vec<i32> = get("rope_scaling").and_then(|r| r.get("mrope_section")).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_i64()).map(|x| x as i32).collect()).unwrap_or_else(|| vec![16, 24, 24]);
    sections.resize(4, 0);
    md.set("qwen2vl.rope.dimension_sections", Value::i32s(sections));
    Ok(get("vocab_size").and_then(|v| v.as_u64()).map(|v| v as usize))
}
