//! The prompt exactly as X2Edit's inference builds it (X2E `src/pipeline_1024.py::
//! _get_qwenvl_prompt_embeds`): the instruction in a Python dict repr (or raw, as training
//! did), one user message in Qwen2-VL's chat template with its default system message, then
//! truncation (right) and LEFT padding to 512 with `<|endoftext|>`.

use super::unicode::is_printable;
use super::Tokenizer;
use crate::error::{Error, Result};

/// X2Edit's `max_sequence_length`; the DiT's single blocks assume exactly this many text tokens.
pub const MAX_LENGTH: usize = 512;

/// How the instruction becomes the user message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PromptFormat {
    /// `str({"Text input": "", "Instruction editing description": prompt, "image input": "yes"})`,
    /// what X2Edit's inference code sends.
    #[default]
    X2Edit,
    /// The instruction alone, as X2Edit's training data loader sends it.
    Raw,
}

impl std::str::FromStr for PromptFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<PromptFormat> {
        match s {
            "x2edit" => Ok(PromptFormat::X2Edit),
            "raw" => Ok(PromptFormat::Raw),
            _ => Err(Error::invalid("--prompt-format", format!("{s:?} (x2edit or raw)"))),
        }
    }
}

/// Python's `repr` of a str: single quotes unless the text has one and no double quote;
/// backslash, the quote, \t \n \r and unprintable characters escaped.
pub fn python_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(q);
    out
}

/// The user message text for an instruction.
pub fn user_text(instruction: &str, format: PromptFormat) -> String {
    match format {
        PromptFormat::X2Edit => format!("{{'Text input': '', 'Instruction editing description': {}, 'image input': 'yes'}}", python_repr(instruction)),
        PromptFormat::Raw => instruction.to_string(),
    }
}

/// Qwen2-VL's chat template (the released `chat_template.json`) for one user text message
/// with `add_generation_prompt=True`: it inserts the default system message.
pub fn render_chat(user: &str) -> String {
    format!("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
}

/// Token ids and attention mask of one prompt, [len] each (1 = real token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
}

impl Encoded {
    /// Unpadded ids (mask all ones).
    pub fn unpadded(ids: Vec<u32>) -> Encoded {
        let mask = vec![1; ids.len()];
        Encoded { ids, mask }
    }

    /// Truncated on the right to `len`, then left-padded to `len` with `pad` (HF
    /// `padding="max_length", truncation=True` with `padding_side="left"`).
    pub fn fixed(mut ids: Vec<u32>, len: usize, pad: u32) -> Encoded {
        ids.truncate(len);
        let n_pad = len - ids.len();
        let mut mask = vec![0; n_pad];
        mask.resize(len, 1);
        let mut padded = vec![pad; n_pad];
        padded.extend(ids);
        Encoded { ids: padded, mask }
    }

    /// HF's text-only mRoPE positions (`get_rope_index` without images): cumsum(mask) - 1,
    /// pads set to 1; the same on the three mRoPE axes, so plain rotate-half RoPE applies.
    pub fn positions(&self) -> Vec<f32> {
        let mut seen = 0u32;
        self.mask
            .iter()
            .map(|&m| {
                seen += m;
                if m == 0 { 1.0 } else { (seen - 1) as f32 }
            })
            .collect()
    }

    pub fn real_tokens(&self) -> usize {
        self.mask.iter().filter(|&&m| m != 0).count()
    }
}

/// The pad id: `<|endoftext|>` (Qwen2.5-VL's tokenizer_config pad_token).
pub fn pad_id(tok: &Tokenizer) -> Result<u32> {
    tok.token_id("<|endoftext|>").ok_or_else(|| Error::invalid(tok.source().to_string(), "no <|endoftext|> token to pad with"))
}

/// X2Edit's encoder input for an instruction: [MAX_LENGTH] ids and mask.
pub fn encode_instruction(tok: &Tokenizer, instruction: &str, format: PromptFormat) -> Result<Encoded> {
    let ids = tok.encode(&render_chat(&user_text(instruction, format)));
    Ok(Encoded::fixed(ids, MAX_LENGTH, pad_id(tok)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_like_python() {
        assert_eq!(python_repr("abc"), "'abc'");
        assert_eq!(python_repr("Don't"), "\"Don't\"");
        assert_eq!(python_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(python_repr("t\tn\nr\rb\\"), "'t\\tn\\nr\\rb\\\\'");
        assert_eq!(python_repr("\u{0}\u{7f}\u{a0}\u{200b}\u{e000}é🎨"), "'\\x00\\x7f\\xa0\\u200b\\ue000é🎨'");
        assert_eq!(python_repr("\u{f0000}"), "'\\U000f0000'");
    }

    #[test]
    fn left_padding_and_positions() {
        let e = Encoded::fixed(vec![7, 8, 9], 5, 0);
        assert_eq!(e.ids, [0, 0, 7, 8, 9]);
        assert_eq!(e.mask, [0, 0, 1, 1, 1]);
        assert_eq!(e.positions(), [1.0, 1.0, 0.0, 1.0, 2.0]);
        assert_eq!(Encoded::fixed(vec![1, 2, 3], 2, 0).ids, [1, 2]);
    }
}
