//! `--task auto`: X2Edit's classification prompt answered by the already-loaded Qwen2.5 model
//! with greedy decoding (X2Edit asks Qwen3-8B; reusing the text encoder saves loading a
//! second LLM on the device, at some cost in accuracy).

use super::prompt::{render_chat, Encoded};
use super::task::{route_prompt, Task};
use super::Tokenizer;
use crate::error::{Error, Result};
use crate::model::qwen::Qwen2Model;

/// Cap on generated tokens: every label is a few tokens in Qwen2's vocabulary.
pub const ROUTE_MAX_NEW_TOKENS: usize = 16;

/// The router's answer.
#[derive(Clone, Debug)]
pub struct Route {
    pub task: Task,
    pub generated: Vec<u32>,
    pub text: String,
}

/// Unpadded ids of the classification chat for an instruction (the prompt is the user
/// message as a plain string, as X2Edit's `intention_qwen3.py` sends it).
pub fn route_inputs(tok: &Tokenizer, instruction: &str) -> Encoded {
    Encoded::unpadded(tok.encode(&render_chat(&route_prompt(instruction))))
}

/// Classifies an instruction; stops at `<|im_end|>` or `<|endoftext|>`, or after `max_new` tokens.
pub async fn route_async(model: &Qwen2Model, tok: &Tokenizer, instruction: &str, max_new: usize) -> Result<Route> {
    let stop: Vec<u32> = ["<|im_end|>", "<|endoftext|>"].iter().filter_map(|t| tok.token_id(t)).collect();
    if stop.is_empty() {
        return Err(Error::invalid(tok.source().to_string(), "no <|im_end|> or <|endoftext|> token to stop generation at"));
    }
    let g = model.generate_greedy_async(&route_inputs(tok, instruction), max_new, &stop).await?;
    let text = tok.decode(&g.ids, true);
    Ok(Route { task: Task::from_answer(&text), generated: g.ids, text })
}

/// Blocking `route_async` (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn route(model: &Qwen2Model, tok: &Tokenizer, instruction: &str, max_new: usize) -> Result<Route> {
    pollster::block_on(route_async(model, tok, instruction, max_new))
}
