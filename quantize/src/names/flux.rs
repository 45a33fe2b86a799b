//! FLUX transformer: BFL names (what our GGUF, city96 and sd.cpp use) <-> diffusers names
//! (`scripts/convert_flux_to_diffusers.py`): q/k/v fused in BFL, split in diffusers; single-block
//! `linear1` = to_q | to_k | to_v | proj_mlp; `final_layer.adaLN_modulation.1` is (shift, scale) in BFL
//! and (scale, shift) in diffusers' `norm_out.linear`.

use super::{count_blocks, Planned};
use crate::error::{FormatError, Result};
use crate::types::TensorInfo;
use std::collections::HashMap;

/// Prefixes that checkpoints put before BFL names (ComfyUI/sd.cpp); stripped on input.
pub const BFL_PREFIXES: [&str; 2] = ["model.diffusion_model.", "model."];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Linear: `.weight` and optional `.bias` on both sides; diffusers parts stacked along dim 0.
    Linear,
    /// A norm scale: BFL `<m>.scale` <-> diffusers `<p>.weight`.
    Norm,
    /// Linear whose two row halves are swapped between the conventions.
    SwapLinear,
}

struct Rule {
    bfl: String,
    diffusers: Vec<String>,
    kind: Kind,
}

fn rule(bfl: impl Into<String>, diffusers: &[String], kind: Kind) -> Rule {
    Rule { bfl: bfl.into(), diffusers: diffusers.to_vec(), kind }
}

fn rules(depth: usize, depth_single: usize) -> Vec<Rule> {
    use Kind::*;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut r = vec![
        rule("img_in", &s(&["x_embedder"]), Linear),
        rule("txt_in", &s(&["context_embedder"]), Linear),
        rule("time_in.in_layer", &s(&["time_text_embed.timestep_embedder.linear_1"]), Linear),
        rule("time_in.out_layer", &s(&["time_text_embed.timestep_embedder.linear_2"]), Linear),
        rule("vector_in.in_layer", &s(&["time_text_embed.text_embedder.linear_1"]), Linear),
        rule("vector_in.out_layer", &s(&["time_text_embed.text_embedder.linear_2"]), Linear),
        rule("guidance_in.in_layer", &s(&["time_text_embed.guidance_embedder.linear_1"]), Linear),
        rule("guidance_in.out_layer", &s(&["time_text_embed.guidance_embedder.linear_2"]), Linear),
        rule("final_layer.linear", &s(&["proj_out"]), Linear),
        rule("final_layer.adaLN_modulation.1", &s(&["norm_out.linear"]), SwapLinear),
    ];
    for n in 0..depth {
        let b = format!("double_blocks.{n}");
        let d = format!("transformer_blocks.{n}");
        let p = |v: &[&str]| v.iter().map(|x| format!("{d}.{x}")).collect::<Vec<_>>();
        r.push(rule(format!("{b}.img_mod.lin"), &p(&["norm1.linear"]), Linear));
        r.push(rule(format!("{b}.txt_mod.lin"), &p(&["norm1_context.linear"]), Linear));
        r.push(rule(format!("{b}.img_attn.qkv"), &p(&["attn.to_q", "attn.to_k", "attn.to_v"]), Linear));
        r.push(rule(format!("{b}.txt_attn.qkv"), &p(&["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"]), Linear));
        r.push(rule(format!("{b}.img_attn.norm.query_norm"), &p(&["attn.norm_q"]), Norm));
        r.push(rule(format!("{b}.img_attn.norm.key_norm"), &p(&["attn.norm_k"]), Norm));
        r.push(rule(format!("{b}.txt_attn.norm.query_norm"), &p(&["attn.norm_added_q"]), Norm));
        r.push(rule(format!("{b}.txt_attn.norm.key_norm"), &p(&["attn.norm_added_k"]), Norm));
        r.push(rule(format!("{b}.img_attn.proj"), &p(&["attn.to_out.0"]), Linear));
        r.push(rule(format!("{b}.txt_attn.proj"), &p(&["attn.to_add_out"]), Linear));
        r.push(rule(format!("{b}.img_mlp.0"), &p(&["ff.net.0.proj"]), Linear));
        r.push(rule(format!("{b}.img_mlp.2"), &p(&["ff.net.2"]), Linear));
        r.push(rule(format!("{b}.txt_mlp.0"), &p(&["ff_context.net.0.proj"]), Linear));
        r.push(rule(format!("{b}.txt_mlp.2"), &p(&["ff_context.net.2"]), Linear));
    }
    for n in 0..depth_single {
        let b = format!("single_blocks.{n}");
        let d = format!("single_transformer_blocks.{n}");
        let p = |v: &[&str]| v.iter().map(|x| format!("{d}.{x}")).collect::<Vec<_>>();
        r.push(rule(format!("{b}.modulation.lin"), &p(&["norm.linear"]), Linear));
        r.push(rule(format!("{b}.linear1"), &p(&["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"]), Linear));
        r.push(rule(format!("{b}.norm.query_norm"), &p(&["attn.norm_q"]), Norm));
        r.push(rule(format!("{b}.norm.key_norm"), &p(&["attn.norm_k"]), Norm));
        r.push(rule(format!("{b}.linear2"), &p(&["proj_out"]), Linear));
    }
    r
}

/// (BFL suffix, diffusers suffix) of the parameters of a rule kind.
fn params(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::Linear | Kind::SwapLinear => &[(".weight", ".weight"), (".bias", ".bias")],
        Kind::Norm => &[(".scale", ".weight")],
    }
}

pub fn strip_prefix(name: &str) -> &str {
    BFL_PREFIXES.iter().find_map(|p| name.strip_prefix(p)).unwrap_or(name)
}

pub fn is_bfl(names: &[&str]) -> bool {
    names.iter().any(|n| {
        let n = strip_prefix(n);
        n.starts_with("double_blocks.") || n == "img_in.weight"
    })
}

pub fn is_diffusers(names: &[&str]) -> bool {
    names.contains(&"x_embedder.weight") && names.iter().any(|n| n.starts_with("transformer_blocks.") || n.starts_with("single_transformer_blocks."))
}

/// Result of a name map: the planned outputs and the source tensors no rule claimed.
pub struct Mapped {
    pub planned: Vec<Planned>,
    pub unmapped: Vec<String>,
}

fn by_name(tensors: &[TensorInfo]) -> HashMap<&str, &TensorInfo> {
    tensors.iter().map(|t| (t.name.as_str(), t)).collect()
}

/// BFL names (any `model.diffusion_model.` prefix stripped), data untouched.
pub fn from_bfl(tensors: &[TensorInfo]) -> Mapped {
    Mapped { planned: tensors.iter().map(|t| Planned::direct(strip_prefix(&t.name), t)).collect(), unmapped: Vec::new() }
}

/// diffusers `FluxTransformer2DModel` names -> BFL names (q/k/v fused, final-layer halves swapped).
pub fn from_diffusers(tensors: &[TensorInfo]) -> Result<Mapped> {
    let m = by_name(tensors);
    let names: Vec<&str> = m.keys().copied().collect();
    let depth = count_blocks(names.iter().copied(), "transformer_blocks.");
    let depth_single = count_blocks(names.iter().copied(), "single_transformer_blocks.");
    let mut used = std::collections::HashSet::new();
    let mut planned = Vec::new();
    for r in rules(depth, depth_single) {
        for (bs, ds) in params(r.kind) {
            let srcs: Vec<&TensorInfo> = r.diffusers.iter().filter_map(|d| m.get(format!("{d}{ds}").as_str()).copied()).collect();
            if srcs.is_empty() {
                continue;
            }
            if srcs.len() != r.diffusers.len() {
                return Err(FormatError::MissingTensor { file: "diffusers FLUX".into(), tensor: r.diffusers.iter().map(|d| format!("{d}{ds}")).find(|n| !m.contains_key(n.as_str())).unwrap_or_default() });
            }
            let out = format!("{}{bs}", r.bfl);
            planned.push(match r.kind {
                Kind::SwapLinear => Planned::swap_halves(out, srcs[0])?,
                _ => Planned::concat_rows(out, &srcs)?,
            });
            used.extend(srcs.iter().map(|t| t.name.clone()));
        }
    }
    let unmapped = tensors.iter().filter(|t| !used.contains(&t.name)).map(|t| t.name.clone()).collect();
    Ok(Mapped { planned, unmapped })
}

/// BFL names -> diffusers names (q/k/v split, `linear1` split at `hidden` rows, halves swapped). The
/// inverse of `from_diffusers`, used to export and to check round trips.
pub fn to_diffusers(tensors: &[TensorInfo]) -> Result<Mapped> {
    let stripped: Vec<TensorInfo> = tensors.iter().map(|t| TensorInfo { name: strip_prefix(&t.name).to_string(), ..t.clone() }).collect();
    let m = by_name(&stripped);
    let names: Vec<&str> = m.keys().copied().collect();
    let depth = count_blocks(names.iter().copied(), "double_blocks.");
    let depth_single = count_blocks(names.iter().copied(), "single_blocks.");
    let hidden = m.get("img_in.weight").map(|t| t.shape[0]).ok_or_else(|| FormatError::MissingTensor { file: "BFL FLUX".into(), tensor: "img_in.weight".into() })?;
    let mut used = std::collections::HashSet::new();
    let mut planned = Vec::new();
    for r in rules(depth, depth_single) {
        for (bs, ds) in params(r.kind) {
            let Some(src) = m.get(format!("{}{bs}", r.bfl).as_str()).copied() else { continue };
            used.insert(src.name.clone());
            let outs: Vec<String> = r.diffusers.iter().map(|d| format!("{d}{ds}")).collect();
            match (r.kind, outs.len()) {
                (Kind::SwapLinear, _) => planned.push(Planned::swap_halves(&outs[0], src)?),
                (_, 1) => planned.push(Planned::direct(&outs[0], src)),
                (_, n) => {
                    let rows = src.shape.first().copied().unwrap_or(0);
                    // q, k, v are `hidden` rows each; linear1's fourth part (proj_mlp) takes the rest.
                    let sizes: Vec<usize> = if n == 3 { vec![rows / 3; 3] } else { vec![hidden, hidden, hidden, rows.saturating_sub(3 * hidden)] };
                    if sizes.iter().sum::<usize>() != rows {
                        return Err(FormatError::BadTensor { file: "BFL FLUX".into(), tensor: src.name.clone(), detail: format!("{rows} rows do not split into {sizes:?}") });
                    }
                    let mut r0 = 0;
                    for (o, sz) in outs.iter().zip(sizes) {
                        planned.push(Planned::rows(o, src, r0, r0 + sz)?);
                        r0 += sz;
                    }
                }
            }
        }
    }
    // Planned parts name the stripped source; point them back at the real names.
    let real: HashMap<String, String> = tensors.iter().map(|t| (strip_prefix(&t.name).to_string(), t.name.clone())).collect();
    for p in &mut planned {
        for s in &mut p.parts {
            if let Some(r) = real.get(&s.src) {
                s.src = r.clone();
            }
        }
    }
    let unmapped = tensors.iter().filter(|t| !used.contains(strip_prefix(&t.name))).map(|t| t.name.clone()).collect();
    Ok(Mapped { planned, unmapped })
}

/// Model configuration of a BFL-named tensor set, as `flux.*` GGUF keys take it.
#[derive(Debug, Clone, PartialEq)]
pub struct FluxConfig {
    pub hidden_size: usize,
    pub num_heads: usize,
    pub head_dim: usize,
    pub depth: usize,
    pub depth_single: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub context_in_dim: usize,
    pub vec_in_dim: usize,
    pub mlp_ratio: f32,
    pub qkv_bias: bool,
    pub guidance_embed: bool,
}

/// Infers the configuration from BFL-named shapes (prefixes already stripped).
pub fn infer_config(tensors: &[(String, Vec<usize>)]) -> Result<FluxConfig> {
    let m: HashMap<&str, &Vec<usize>> = tensors.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let need = |n: &str, dim: usize| -> Result<usize> {
        m.get(n).and_then(|s| s.get(dim).copied()).ok_or_else(|| FormatError::MissingTensor { file: "FLUX transformer".into(), tensor: n.into() })
    };
    let hidden_size = need("img_in.weight", 0)?;
    let head_dim = need("double_blocks.0.img_attn.norm.query_norm.scale", 0).or_else(|_| need("single_blocks.0.norm.query_norm.scale", 0))?;
    if head_dim == 0 || hidden_size % head_dim != 0 {
        return Err(FormatError::Invalid { what: "FLUX config".into(), detail: format!("hidden size {hidden_size} is not a multiple of head dim {head_dim}") });
    }
    let names = || tensors.iter().map(|(n, _)| n.as_str());
    let mlp_hidden = need("double_blocks.0.img_mlp.0.weight", 0).or_else(|_| need("single_blocks.0.linear1.weight", 0).map(|r| r - 3 * hidden_size))?;
    Ok(FluxConfig {
        hidden_size,
        num_heads: hidden_size / head_dim,
        head_dim,
        depth: count_blocks(names(), "double_blocks."),
        depth_single: count_blocks(names(), "single_blocks."),
        in_channels: need("img_in.weight", 1)?,
        out_channels: need("final_layer.linear.weight", 0)?,
        context_in_dim: need("txt_in.weight", 1)?,
        vec_in_dim: need("vector_in.in_layer.weight", 1)?,
        mlp_ratio: mlp_hidden as f32 / hidden_size as f32,
        qkv_bias: m.contains_key("double_blocks.0.img_attn.qkv.bias") || m.contains_key("single_blocks.0.linear1.bias"),
        guidance_embed: m.contains_key("guidance_in.in_layer.weight"),
    })
}
