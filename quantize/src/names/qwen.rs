//! Qwen2.5-VL language model: Hugging Face names <-> llama.cpp `qwen2vl` GGUF names
//! (`gguf-py/gguf/constants.py` MODEL_ARCH.QWEN2VL). Qwen2 q/k are not permuted, so tensors are renamed
//! only. The vision tower (`visual.*`) belongs in a separate mmproj file and is not mapped.

/// Per-layer (HF suffix, llama.cpp suffix).
const LAYER: [(&str, &str); 13] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.q_proj.bias", "attn_q.bias"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.k_proj.bias", "attn_k.bias"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.v_proj.bias", "attn_v.bias"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
    ("self_attn.o_proj.bias", "attn_output.bias"),
];

const GLOBAL: [(&str, &str); 3] = [("model.embed_tokens.weight", "token_embd.weight"), ("model.norm.weight", "output_norm.weight"), ("lm_head.weight", "output.weight")];

/// transformers >= 4.52 nests the language model; the released files use `model.layers...`.
fn normalize(hf: &str) -> std::borrow::Cow<'_, str> {
    match hf.strip_prefix("model.language_model.") {
        Some(rest) => format!("model.{rest}").into(),
        None => hf.into(),
    }
}

pub fn is_hf(names: &[&str]) -> bool {
    names.iter().any(|n| normalize(n).starts_with("model.layers.")) && names.iter().any(|n| normalize(n) == "model.embed_tokens.weight")
}

pub fn is_vision(hf: &str) -> bool {
    hf.starts_with("visual.") || hf.starts_with("model.visual.")
}

pub fn hf_to_gguf(hf: &str) -> Option<String> {
    let n = normalize(hf);
    if let Some((_, g)) = GLOBAL.iter().find(|(h, _)| *h == n) {
        return Some(g.to_string());
    }
    let rest = n.strip_prefix("model.layers.")?;
    let (i, suffix) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    LAYER.iter().find(|(h, _)| *h == suffix).map(|(_, g)| format!("blk.{i}.{g}"))
}

pub fn gguf_to_hf(g: &str) -> Option<String> {
    if let Some((h, _)) = GLOBAL.iter().find(|(_, x)| *x == g) {
        return Some(h.to_string());
    }
    let rest = g.strip_prefix("blk.")?;
    let (i, suffix) = rest.split_once('.')?;
    let i: usize = i.parse().ok()?;
    LAYER.iter().find(|(_, x)| *x == suffix).map(|(h, _)| format!("model.layers.{i}.{h}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen_names_map_both_ways() {
        for (h, g) in [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("lm_head.weight", "output.weight"),
            ("model.layers.27.self_attn.k_proj.bias", "blk.27.attn_k.bias"),
            ("model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"),
            ("model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight"),
        ] {
            assert_eq!(hf_to_gguf(h).as_deref(), Some(g));
            assert_eq!(gguf_to_hf(g).as_deref(), Some(h));
        }
        assert_eq!(hf_to_gguf("model.language_model.layers.1.self_attn.o_proj.weight").as_deref(), Some("blk.1.attn_output.weight"));
        assert_eq!(hf_to_gguf("visual.blocks.0.attn.qkv.weight"), None);
    }
}
