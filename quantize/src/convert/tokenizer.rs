//! llama.cpp tokenizer KVs (`tokenizer.ggml.*`) for a Qwen2 BPE tokenizer, from a Hugging Face
//! `tokenizer.json` (+ `tokenizer_config.json`, `chat_template.json`), as `convert_hf_to_gguf.py`
//! writes them: model "gpt2", pre "qwen2", tokens by id padded to the model's vocab size with
//! `[PAD{i}]`, token types (1 normal, 3 control for special added tokens, 4 user-defined), merges.

use crate::checkpoint::read_json;
use crate::error::{FormatError, Result};
use crate::metadata::{Metadata, Value, ValueType};
use std::path::Path;

const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
/// Bound on vocabulary size read from a file (Qwen2 has 151 665).
const MAX_VOCAB: usize = 1 << 22;

pub fn add_tokenizer(dir: &Path, vocab_size: Option<usize>, md: &mut Metadata) -> Result<bool> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Ok(false);
    }
    let file = path.display().to_string();
    let j = read_json(&path)?;
    let bad = |d: &str| FormatError::malformed(&file, "tokenizer.json", d.to_string());
    let vocab = j.pointer("/model/vocab").and_then(|v| v.as_object()).ok_or_else(|| bad("no model.vocab object"))?;
    let mut pairs: Vec<(usize, String, i32)> = Vec::with_capacity(vocab.len());
    for (tok, id) in vocab {
        let id = id.as_u64().filter(|&i| (i as usize) < MAX_VOCAB).ok_or_else(|| bad("token id out of range"))? as usize;
        pairs.push((id, tok.clone(), NORMAL));
    }
    for a in j.get("added_tokens").and_then(|v| v.as_array()).into_iter().flatten() {
        let id = a.get("id").and_then(|v| v.as_u64()).filter(|&i| (i as usize) < MAX_VOCAB).ok_or_else(|| bad("added token id out of range"))? as usize;
        let content = a.get("content").and_then(|v| v.as_str()).ok_or_else(|| bad("added token without content"))?;
        let special = a.get("special").and_then(|v| v.as_bool()).unwrap_or(false);
        pairs.retain(|p| p.0 != id);
        pairs.push((id, content.to_string(), if special { CONTROL } else { USER_DEFINED }));
    }
    let max_id = pairs.iter().map(|p| p.0 + 1).max().unwrap_or(0);
    let n = vocab_size.unwrap_or(0).max(max_id);
    let mut tokens: Vec<Option<(String, i32)>> = vec![None; n];
    for (id, t, ty) in pairs {
        tokens[id] = Some((t, ty));
    }
    let (toks, types): (Vec<String>, Vec<i32>) = tokens.into_iter().enumerate().map(|(i, t)| t.unwrap_or((format!("[PAD{i}]"), USER_DEFINED))).unzip();
    let merges: Vec<String> = j
        .pointer("/model/merges")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| match m {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Array(p) => Some(p.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let id_of = |t: &str| toks.iter().position(|x| x == t).map(|i| Value::U32(i as u32));

    md.set("tokenizer.ggml.model", Value::String("gpt2".into()));
    md.set("tokenizer.ggml.pre", Value::String("qwen2".into()));
    md.set("tokenizer.ggml.tokens", Value::strings(toks.clone()));
    md.set("tokenizer.ggml.token_type", Value::Array(ValueType::I32, types.into_iter().map(Value::I32).collect()));
    md.set("tokenizer.ggml.merges", Value::strings(merges));

    let cfg_path = dir.join("tokenizer_config.json");
    let cfg = if cfg_path.is_file() { Some(read_json(&cfg_path)?) } else { None };
    let tok_field = |k: &str| -> Option<String> {
        let v = cfg.as_ref()?.get(k)?;
        v.as_str().map(String::from).or_else(|| v.get("content").and_then(|c| c.as_str()).map(String::from))
    };
    if let Some(v) = tok_field("eos_token").and_then(|t| id_of(&t)) {
        md.set("tokenizer.ggml.eos_token_id", v);
    }
    if let Some(v) = tok_field("pad_token").and_then(|t| id_of(&t)) {
        md.set("tokenizer.ggml.padding_token_id", v);
    }
    match tok_field("bos_token").and_then(|t| id_of(&t)) {
        Some(v) => md.set("tokenizer.ggml.bos_token_id", v),
        // Qwen has no BOS; llama.cpp takes config.json's bos_token_id (<|endoftext|>) and adds none.
        None => {
            if let Some(v) = id_of("<|endoftext|>") {
                md.set("tokenizer.ggml.bos_token_id", v);
            }
        }
    }
    md.set("tokenizer.ggml.add_bos_token", Value::Bool(cfg.as_ref().and_then(|c| c.get("add_bos_token")).and_then(|v| v.as_bool()).unwrap_or(false)));
    let template = cfg.as_ref().and_then(|c| c.get("chat_template")).and_then(|v| v.as_str()).map(String::from).or_else(|| {
        let p = dir.join("chat_template.json");
        read_json(&p).ok()?.get("chat_template")?.as_str().map(String::from)
    });
    if let Some(t) = template {
        md.set("tokenizer.chat_template", Value::String(t));
    }
    Ok(true)
}
