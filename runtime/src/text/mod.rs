//! The text front end: Qwen2's byte-level BPE tokenizer (from tokenizer.json or a GGUF), the
//! X2Edit prompt (chat template, dict wrapper or raw, left padding to 512), and the task ids
//! with greedy routing on the loaded Qwen2.5 model.

mod bpe;
mod encode;
mod pretokenize;
pub mod prompt;
mod route;
pub mod task;
mod unicode;

pub use bpe::{Tokenizer, QWEN2_PATTERN};
#[cfg(not(target_arch = "wasm32"))]
pub use encode::{align_head, encode_hidden};
pub use encode::{align_head_async, encode_hidden_async, Hidden};
pub use prompt::{encode_instruction, python_repr, render_chat, user_text, Encoded, PromptFormat, MAX_LENGTH};
#[cfg(not(target_arch = "wasm32"))]
pub use route::route;
pub use route::{route_async, route_inputs, Route, ROUTE_MAX_NEW_TOKENS};
pub use task::{route_prompt, Task, TaskChoice};

/// Qwen2's pre-tokenizer pieces of a text (exposed for tests and tools).
pub fn pretokenize(text: &str) -> Vec<&str> {
    pretokenize::split(text)
}
