//! Byte-level BPE as Qwen2's tokenizer.json describes it (HF `tokenizers`): special tokens are
//! split off the raw text first, every other segment is NFC-normalized, cut by Qwen2's
//! pre-tokenizer, mapped byte by byte to GPT-2's printable alphabet, and merged by rank.
//! Loads from `tokenizer.json` or from a llama.cpp GGUF's `tokenizer.ggml.*` values.

use super::pretokenize;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;
use x2edit_quantize::Metadata;

/// Qwen2's pre-tokenizer regex as tokenizer.json spells it; any other split is refused.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A token matched on the raw text before normalization (HF "added tokens").
#[derive(Clone, Debug)]
struct Added {
    content: String,
    id: u32,
    special: bool,
}

pub struct Tokenizer {
    /// byte-level token string -> id
    vocab: HashMap<String, u32>,
    /// id -> token string (learned and added tokens)
    tokens: Vec<Option<String>>,
    /// (left id, right id) -> (rank, merged id)
    merges: HashMap<(u32, u32), (u32, u32)>,
    added: Vec<Added>,
    nfc: bool,
    ignore_merges: bool,
    /// byte -> its char id; char -> byte in `unbyte`
    byte_ids: [u32; 256],
    unbyte: HashMap<char, u8>,
    source: String,
}

/// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the others to U+0100 onwards.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            next += 1;
            next - 1
        };
        out[b as usize] = char::from_u32(c).unwrap_or('\0');
    }
    out
}

impl Tokenizer {
    /// `path`: a folder with tokenizer.json, the tokenizer.json file itself, or a GGUF file.
    pub fn open(path: &Path) -> Result<Tokenizer> {
        let io = |e| Error::Io { path: path.to_path_buf(), source: e };
        if path.is_dir() {
            let json = path.join("tokenizer.json");
            if !json.is_file() {
                return Err(Error::invalid(path.display().to_string(), "no tokenizer.json in this folder (needed to tokenize)"));
            }
            return Tokenizer::open(&json);
        }
        if path.extension().is_some_and(|e| e == "gguf") {
            let ckpt = x2edit_quantize::Checkpoint::open(path)?;
            return Tokenizer::from_gguf(ckpt.metadata(), &path.display().to_string());
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Tokenizer::from_json(&text, &path.display().to_string())
    }

    /// From the text of a tokenizer.json.
    pub fn from_json(text: &str, source: &str) -> Result<Tokenizer> {
        let bad = |d: &str| Error::invalid(format!("{source}: tokenizer.json"), d.to_string());
        let j: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let model = j.get("model").ok_or_else(|| bad("no model"))?;
        if model.get("type").and_then(|t| t.as_str()) != Some("BPE") {
            return Err(Error::Unsupported(source.into(), "tokenizer model other than BPE".into()));
        }
        check_pipeline(&j, source)?;
        let vocab_obj = model.get("vocab").and_then(|v| v.as_object()).ok_or_else(|| bad("no model.vocab"))?;
        let mut vocab = Vec::with_capacity(vocab_obj.len());
        for (t, id) in vocab_obj {
            let id = id.as_u64().filter(|&i| i < 1 << 24).ok_or_else(|| bad("token id out of range"))?;
            vocab.push((t.clone(), id as u32));
        }
        let mut merges = Vec::new();
        for m in model.get("merges").and_then(|v| v.as_array()).ok_or_else(|| bad("no model.merges"))? {
            let pair = match m {
                serde_json::Value::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                serde_json::Value::Array(p) => match (p.first().and_then(|x| x.as_str()), p.get(1).and_then(|x| x.as_str())) {
                    (Some(a), Some(b)) => Some((a.to_string(), b.to_string())),
                    _ => None,
                },
                _ => None,
            };
            merges.push(pair.ok_or_else(|| bad("a merge is neither \"a b\" nor [a, b]"))?);
        }
        let mut added = Vec::new();
        for a in j.get("added_tokens").and_then(|v| v.as_array()).into_iter().flatten() {
            let content = a.get("content").and_then(|v| v.as_str()).ok_or_else(|| bad("added token without content"))?;
            let id = a.get("id").and_then(|v| v.as_u64()).filter(|&i| i < 1 << 24).ok_or_else(|| bad("added token id"))?;
            let flag = |k: &str| a.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
            if flag("lstrip") || flag("rstrip") || flag("single_word") {
                return Err(Error::Unsupported(source.into(), format!("added token {content:?} with lstrip/rstrip/single_word")));
            }
            added.push(Added { content: content.to_string(), id: id as u32, special: flag("special") });
        }
        let nfc = match j.get("normalizer") {
            None | Some(serde_json::Value::Null) => false,
            Some(n) if n.get("type").and_then(|t| t.as_str()) == Some("NFC") => true,
            Some(n) => return Err(Error::Unsupported(source.into(), format!("normalizer {n} (Qwen2 uses NFC)"))),
        };
        let ignore_merges = model.get("ignore_merges").and_then(|v| v.as_bool()).unwrap_or(false);
        Tokenizer::build(vocab, merges, added, nfc, ignore_merges, source)
    }

    /// From a llama.cpp GGUF's tokenizer values (model "gpt2", pre "qwen2"). Control (3) and
    /// user-defined (4) tokens are matched like HF added tokens, except llama.cpp's `[PAD{id}]`
    /// fillers, which HF's vocabulary does not have.
    pub fn from_gguf(md: &Metadata, source: &str) -> Result<Tokenizer> {
        let bad = |d: &str| Error::invalid(format!("{source}: tokenizer.ggml"), d.to_string());
        match md.get_str("tokenizer.ggml.model") {
            Some("gpt2") => {}
            Some(m) => return Err(Error::Unsupported(source.into(), format!("tokenizer.ggml.model {m:?} (gpt2 byte-level BPE expected)"))),
            None => return Err(bad("no tokenizer.ggml.model: this file has no tokenizer")),
        }
        if let Some(p) = md.get_str("tokenizer.ggml.pre").filter(|p| *p != "qwen2") {
            return Err(Error::Unsupported(source.into(), format!("tokenizer.ggml.pre {p:?} (qwen2 expected)")));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            let a = md.get(key).and_then(|v| v.as_array()).ok_or_else(|| bad(&format!("no {key} array")))?;
            a.iter().map(|v| v.as_str().map(String::from).ok_or_else(|| bad(&format!("{key} holds a non-string")))).collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let types: Vec<i64> = match md.get("tokenizer.ggml.token_type").and_then(|v| v.as_array()) {
            Some(a) => a.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let (mut vocab, mut added) = (Vec::new(), Vec::new());
        for (i, t) in tokens.iter().enumerate() {
            match types.get(i).copied().unwrap_or(1) {
                3 => added.push(Added { content: t.clone(), id: i as u32, special: true }),
                4 if *t == format!("[PAD{i}]") => {}
                4 => added.push(Added { content: t.clone(), id: i as u32, special: false }),
                _ => vocab.push((t.clone(), i as u32)),
            }
        }
        let mut merges = Vec::new();
        for m in strings("tokenizer.ggml.merges")? {
            let (a, b) = m.split_once(' ').ok_or_else(|| bad(&format!("merge {m:?} has no space")))?;
            merges.push((a.to_string(), b.to_string()));
        }
        Tokenizer::build(vocab, merges, added, true, false, source)
    }

    fn build(vocab: Vec<(String, u32)>, merges: Vec<(String, String)>, added: Vec<Added>, nfc: bool, ignore_merges: bool, source: &str) -> Result<Tokenizer> {
        let bad = |d: String| Error::invalid(source.to_string(), d);
        let n = vocab.iter().map(|v| v.1).chain(added.iter().map(|a| a.id)).max().map_or(0, |m| m as usize + 1);
        let mut tokens = vec![None; n];
        let mut map = HashMap::with_capacity(vocab.len());
        for (t, id) in vocab {
            tokens[id as usize] = Some(t.clone());
            map.insert(t, id);
        }
        for a in &added {
            tokens[a.id as usize] = Some(a.content.clone());
        }
        let chars = byte_chars();
        let mut byte_ids = [0u32; 256];
        let mut unbyte = HashMap::new();
        for (b, c) in chars.iter().enumerate() {
            byte_ids[b] = *map.get(&c.to_string()).ok_or_else(|| bad(format!("byte-level symbol {c:?} (byte {b}) is not in the vocabulary")))?;
            unbyte.insert(*c, b as u8);
        }
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, (a, b)) in merges.into_iter().enumerate() {
            let id = |t: &str| map.get(t).copied().ok_or_else(|| bad(format!("merge part {t:?} is not in the vocabulary")));
            let merged = id(&format!("{a}{b}"))?;
            ranks.entry((id(&a)?, id(&b)?)).or_insert((rank as u32, merged));
        }
        Ok(Tokenizer { vocab: map, tokens, merges: ranks, added, nfc, ignore_merges, byte_ids, unbyte, source: source.to_string() })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of ids (learned and added tokens).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of a token given by its text (special tokens by their content).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.added.iter().find(|a| a.content == token).map(|a| a.id).or_else(|| self.vocab.get(token).copied())
    }

    /// Token ids of `text` (no BOS/EOS added: Qwen2 adds none).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // leftmost-longest match of an added token (HF uses Aho-Corasick, leftmost-longest)
            let hit = (0..rest.len()).filter(|&i| rest.is_char_boundary(i)).find_map(|i| {
                self.added.iter().filter(|a| rest[i..].starts_with(&a.content)).max_by_key(|a| a.content.len()).map(|a| (i, a))
            });
            let (plain, next) = match hit {
                Some((i, a)) => (&rest[..i], Some(a)),
                None => (rest, None),
            };
            self.encode_plain(plain, &mut ids);
            match next {
                Some(a) => {
                    ids.push(a.id);
                    rest = &rest[plain.len() + a.content.len()..];
                }
                None => break,
            }
        }
        ids
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let normalized: String = if self.nfc { text.nfc().collect() } else { text.to_string() };
        for piece in pretokenize::split(&normalized) {
            self.bpe(piece, ids);
        }
    }

    /// Merges the byte symbols of one piece: repeatedly the adjacent pair of lowest rank
    /// (leftmost on ties), as HF's BPE does.
    fn bpe(&self, piece: &str, ids: &mut Vec<u32>) {
        if self.ignore_merges {
            let word: String = piece.bytes().map(|b| byte_chars()[b as usize]).collect();
            if let Some(&id) = self.vocab.get(&word) {
                ids.push(id);
                return;
            }
        }
        let mut syms: Vec<u32> = piece.bytes().map(|b| self.byte_ids[b as usize]).collect();
        loop {
            let best = syms
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| self.merges.get(&(w[0], w[1])).map(|&(rank, id)| (rank, i, id)))
                .min();
            match best {
                Some((_, i, id)) => {
                    syms[i] = id;
                    syms.remove(i + 1);
                }
                None => break,
            }
        }
        ids.extend(syms);
    }

    /// Text of ids (byte-level decoded, invalid UTF-8 replaced); special tokens skipped when asked.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            if let Some(a) = self.added.iter().find(|a| a.id == id) {
                if !(skip_special && a.special) {
                    bytes.extend_from_slice(a.content.as_bytes());
                }
                continue;
            }
            if let Some(Some(t)) = self.tokens.get(id as usize) {
                bytes.extend(t.chars().map(|c| self.unbyte.get(&c).copied().unwrap_or(b'?')));
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Accepts only Qwen2's pipeline: a Split on QWEN2_PATTERN (isolated) followed by ByteLevel
/// without its own regex, so that `pretokenize::split` is what the file asks for.
fn check_pipeline(j: &serde_json::Value, source: &str) -> Result<()> {
    let unsupported = |d: String| Error::Unsupported(format!("{source}: pre_tokenizer"), d);
    let pre = j.get("pre_tokenizer").ok_or_else(|| unsupported("missing".into()))?;
    let steps: Vec<&serde_json::Value> = match pre.get("pretokenizers").and_then(|p| p.as_array()) {
        Some(a) => a.iter().collect(),
        None => vec![pre],
    };
    let ty = |v: &serde_json::Value| v.get("type").and_then(|t| t.as_str()).unwrap_or("").to_string();
    let split = steps.iter().find(|s| ty(s) == "Split").ok_or_else(|| unsupported("no Split step (Qwen2's regex expected)".into()))?;
    let pattern = split.pointer("/pattern/Regex").and_then(|p| p.as_str()).unwrap_or("");
    if pattern != QWEN2_PATTERN {
        return Err(unsupported(format!("split regex {pattern:?} is not Qwen2's")));
    }
    if split.get("behavior").and_then(|b| b.as_str()) != Some("Isolated") {
        return Err(unsupported("split behavior other than Isolated".into()));
    }
    for s in &steps {
        if ty(s) == "ByteLevel" && s.get("use_regex").and_then(|v| v.as_bool()).unwrap_or(true) {
            return Err(unsupported("ByteLevel with its own regex after the split".into()));
        }
    }
    if steps.iter().any(|s| !matches!(ty(s).as_str(), "Split" | "ByteLevel")) {
        return Err(unsupported(format!("steps other than Split and ByteLevel: {pre}")));
    }
    Ok(())
}
