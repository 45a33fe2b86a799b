//! X2Edit adapter (`lora.safetensors`, `task_embeddings.bin`, AlignNet `diffusion_pytorch_model.bin`):
//! the released MoE-LoRA keys are kept as they are; the task embedding becomes `task_embedding.weight`
//! and AlignNet's keys go under `alignnet.` (a DataParallel `module.` prefix is dropped).

use std::path::Path;

pub const TASK_EMBEDDING: &str = "task_embedding.weight";
pub const ALIGNNET_PREFIX: &str = "alignnet.";
/// AlignNet state-dict keys (X2I `utils/proj.py` `create_proj3_qwen7b`).
pub const ALIGNNET_KEYS: [&str; 8] = ["conv.weight", "conv.bias", "mlp.layernorm.weight", "mlp.layernorm.bias", "mlp.projector.0.weight", "mlp.projector.2.weight", "mlp.fc.1.weight", "mlp.fc.1.bias"];

/// Task labels by id (X2E `infer.py` `all_dict`, in English), written as `x2edit.task_labels`.
pub const TASK_LABELS: [&str; 16] = [
    "unknown", "subject removal", "subject addition", "style change", "background change", "color change", "material change",
    "action change", "subject replacement", "portrait retouch", "text change", "tone transfer", "camera move", "implicit change",
    "low level", "subject",
];

pub fn is_lora_key(name: &str) -> bool {
    name.contains("_moe_lora.")
}

pub fn is_adapter(names: &[&str]) -> bool {
    names.iter().any(|n| is_lora_key(n))
}

/// Output name of a source tensor, given the file it came from; None for tensors that are not part
/// of the adapter.
pub fn map_name(name: &str, file: Option<&Path>) -> Option<String> {
    let bare = name.strip_prefix("module.").unwrap_or(name);
    if is_lora_key(bare) {
        return Some(bare.strip_prefix("transformer.").unwrap_or(bare).to_string());
    }
    let stem = file.and_then(|f| f.file_stem()).and_then(|s| s.to_str()).unwrap_or("");
    if bare == "weight" && (stem.contains("task_embedding") || stem.is_empty()) {
        return Some(TASK_EMBEDDING.to_string());
    }
    if bare == TASK_EMBEDDING || bare.starts_with(ALIGNNET_PREFIX) {
        return Some(bare.to_string());
    }
    ALIGNNET_KEYS.contains(&bare).then(|| format!("{ALIGNNET_PREFIX}{bare}"))
}

/// Block kind and index of a LoRA key: ("double", N) for `transformer_blocks.N`, ("single", N).
pub fn lora_block(name: &str) -> Option<(&'static str, usize)> {
    if let Some(i) = super::block_index(name, "transformer_blocks.") {
        return Some(("double", i));
    }
    super::block_index(name, "single_transformer_blocks.").map(|i| ("single", i))
}

/// Expert index of `...experts.E....`.
pub fn expert_index(name: &str) -> Option<usize> {
    let (_, rest) = name.split_once(".experts.")?;
    rest.split('.').next()?.parse().ok()
}
