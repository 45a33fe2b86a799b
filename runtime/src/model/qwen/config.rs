//! Qwen2.5-VL language-model sizes: from a HF `config.json` (top level or `text_config`) or
//! from GGUF metadata (`qwen2vl.*`, or any `general.architecture` prefix such as `qwen2`).

use super::names::Naming;
use crate::error::{Error, Result};
use crate::weights::Weights;

#[derive(Clone, Debug, PartialEq)]
pub struct QwenConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f64,
    /// Text-only prompts give the same position on the three mRoPE axes, so the sections do not
    /// change the rotation; kept for reports and checks.
    pub mrope_section: Vec<usize>,
}

impl QwenConfig {
    /// Qwen2.5-VL-7B-Instruct (its released config.json; shared/reference/x2edit.md section 2).
    pub fn qwen25_vl_7b() -> QwenConfig {
        QwenConfig {
            hidden_size: 3584,
            num_hidden_layers: 28,
            num_attention_heads: 28,
            num_key_value_heads: 4,
            head_dim: 128,
            intermediate_size: 18944,
            vocab_size: 152064,
            rms_norm_eps: 1e-6,
            rope_theta: 1e6,
            mrope_section: vec![16, 24, 24],
        }
    }

    pub fn kv_width(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// The sizes the checkpoint declares, checked against its embedding table.
    pub fn from_weights(w: &Weights, naming: &Naming) -> Result<QwenConfig> {
        let embed = w.shape(&naming.embed_tokens())?;
        let [vocab, hidden] = embed[..] else {
            return Err(Error::shape(format!("{}: {}", w.label(), naming.embed_tokens()), "[vocab, hidden]", embed));
        };
        let c = match naming {
            Naming::Gguf => from_gguf(w)?,
            Naming::Hf { .. } => from_json(w)?,
        };
        let c = QwenConfig { vocab_size: vocab, ..c };
        if c.hidden_size != hidden {
            return Err(Error::shape(format!("{}: hidden size of the config vs the embedding table", w.label()), c.hidden_size, hidden));
        }
        if c.num_attention_heads == 0 || c.num_key_value_heads == 0 || !c.num_attention_heads.is_multiple_of(c.num_key_value_heads) || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(Error::invalid(w.label().to_string(), format!("{} heads over {} KV heads at width {}", c.num_attention_heads, c.num_key_value_heads, c.hidden_size)));
        }
        Ok(c)
    }
}

fn from_json(w: &Weights) -> Result<QwenConfig> {
    let md = w.metadata();
    let root = md.config.as_ref().ok_or_else(|| Error::invalid(w.label().to_string(), "no config.json beside the weights"))?;
    // transformers >= 4.52 nests the language model's sizes under text_config
    let cfg = root.get("text_config").filter(|t| t.get("hidden_size").is_some()).unwrap_or(root);
    let num = |k: &str| -> Result<f64> {
        cfg.get(k).and_then(|v| v.as_f64()).ok_or_else(|| Error::invalid(format!("{}: config.json", w.label()), format!("'{k}' is missing")))
    };
    let int = |k: &str| num(k).map(|v| v as usize);
    let hidden = int("hidden_size")?;
    let heads = int("num_attention_heads")?;
    let mrope = root
        .pointer("/rope_scaling/mrope_section")
        .or_else(|| cfg.pointer("/rope_scaling/mrope_section"))
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_u64()).map(|x| x as usize).collect())
        .unwrap_or_default();
    Ok(QwenConfig {
        hidden_size: hidden,
        num_hidden_layers: int("num_hidden_layers")?,
        num_attention_heads: heads,
        num_key_value_heads: int("num_key_value_heads").unwrap_or(heads),
        head_dim: hidden / heads.max(1),
        intermediate_size: int("intermediate_size")?,
        vocab_size: 0,
        rms_norm_eps: num("rms_norm_eps")? as f32,
        rope_theta: num("rope_theta").unwrap_or(1e6),
        mrope_section: mrope,
    })
}

fn from_gguf(w: &Weights) -> Result<QwenConfig> {
    let md = w.metadata();
    let arch = md.get_str("general.architecture").unwrap_or("qwen2vl").to_string();
    let key = |k: &str| format!("{arch}.{k}");
    let int = |k: &str| -> Result<usize> {
        md.get_i64(&key(k)).map(|v| v as usize).ok_or_else(|| Error::invalid(w.label().to_string(), format!("GGUF key '{}' is missing", key(k))))
    };
    let hidden = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let mrope = md
        .get(&key("rope.dimension_sections"))
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_i64()).filter(|&x| x > 0).map(|x| x as usize).collect())
        .unwrap_or_default();
    Ok(QwenConfig {
        hidden_size: hidden,
        num_hidden_layers: int("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: int("attention.head_count_kv").unwrap_or(heads),
        head_dim: hidden / heads.max(1),
        intermediate_size: int("feed_forward_length")?,
        vocab_size: 0,
        rms_norm_eps: md.get_f64(&key("attention.layer_norm_rms_epsilon")).unwrap_or(1e-6) as f32,
        rope_theta: md.get_f64(&key("rope.freq_base")).unwrap_or(1e6),
        mrope_section: mrope,
    })
}
