//! Which ggml type each output tensor gets: `--rule REGEX=TYPE` first (first match wins, unanchored,
//! against the output name), then the defaults of the established FLUX files (city96, sd.cpp): 1-D
//! tensors in f32; biases, norm scales, embedders and the final layer at the source precision; rows
//! that are not a whole number of blocks fall back to f16.

use super::Arch;
use crate::error::{FormatError, Result};
use crate::types::GgmlType;
use regex::Regex;

#[derive(Debug, Clone)]
pub struct TypeRule {
    pub re: Regex,
    pub ty: GgmlType,
}

impl std::str::FromStr for TypeRule {
    type Err = FormatError;
    /// `REGEX=TYPE`; the last `=` separates them, so the regex may contain `=`.
    fn from_str(s: &str) -> Result<Self> {
        let (re, ty) = s.rsplit_once('=').ok_or_else(|| FormatError::Invalid { what: "--rule".into(), detail: format!("`{s}` is not REGEX=TYPE") })?;
        let re = Regex::new(re).map_err(|e| FormatError::Invalid { what: "--rule".into(), detail: format!("`{re}`: {e}") })?;
        Ok(TypeRule { re, ty: ty.parse()? })
    }
}

/// Names kept at source precision by default when the target is a block type.
fn keep_full_precision(arch: &Arch, name: &str) -> bool {
    if name.ends_with(".bias") || name.ends_with(".scale") || name.contains("norm") {
        return true;
    }
    match arch {
        Arch::Flux => ["img_in.", "txt_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."].iter().any(|p| name.starts_with(p)),
        // Convolutions with 3x3 kernels cannot be blocked anyway; the VAE is small: keep it whole.
        Arch::FluxVae => true,
        Arch::X2Edit => name.starts_with("task_embedding") || name.starts_with("alignnet.conv") || name.ends_with(".gate.weight"),
        Arch::Qwen2Vl => name.starts_with("token_embd."),
        Arch::Other(_) => false,
    }
}

/// The float type a tensor keeps when it is not quantized.
fn float_of(src: GgmlType) -> GgmlType {
    if src.is_quantized() || !src.is_target() {
        GgmlType::F16
    } else {
        src
    }
}

/// (type, note) for one output tensor.
pub fn choose(arch: &Arch, name: &str, shape: &[usize], src: GgmlType, target: Option<GgmlType>, rules: &[TypeRule]) -> (GgmlType, Option<String>) {
    let row = shape.last().copied().unwrap_or(1);
    let n: usize = shape.iter().product();
    let wanted = if let Some(r) = rules.iter().find(|r| r.re.is_match(name)) {
        r.ty
    } else if let Some(t) = target {
        if shape.len() <= 1 || n <= 1024 {
            GgmlType::F32
        } else if t.is_quantized() && keep_full_precision(arch, name) {
            float_of(src)
        } else {
            t
        }
    } else {
        src
    };
    if wanted.is_quantized() && row % wanted.block_elems() != 0 {
        return (GgmlType::F16, Some(format!("row {row} not a multiple of {}: f16", wanted.block_elems())));
    }
    (wanted, None)
}
