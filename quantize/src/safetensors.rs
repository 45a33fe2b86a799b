//! safetensors headers (through the `safetensors` crate, which bounds the header at 100 MB and checks
//! that the data offsets tile the data section exactly) mapped onto our tensor descriptors.

use crate::error::{FormatError, Result};
use crate::metadata::{Metadata, Value};
use crate::types::{GgmlType, TensorInfo};
use safetensors::tensor::Dtype;

pub struct StEntry {
    pub info: TensorInfo,
    /// Absolute byte range in the file.
    pub start: usize,
    pub end: usize,
}

pub fn dtype_to_ggml(file: &str, tensor: &str, d: Dtype) -> Result<GgmlType> {
    Ok(match d {
        Dtype::F32 => GgmlType::F32,
        Dtype::F16 => GgmlType::F16,
        Dtype::BF16 => GgmlType::BF16,
        Dtype::F64 => GgmlType::F64,
        Dtype::I8 => GgmlType::I8,
        Dtype::I16 => GgmlType::I16,
        Dtype::I32 => GgmlType::I32,
        Dtype::I64 => GgmlType::I64,
        other => {
            let hint = if format!("{other:?}").starts_with("F8") {
                "FP8 checkpoints are not supported: convert from the bf16/f16 release"
            } else {
                "supported: F32, F16, BF16, F64, I8, I16, I32, I64"
            };
            return Err(FormatError::UnsupportedDtype { file: file.into(), tensor: tensor.into(), dtype: format!("{other:?}"), hint });
        }
    })
}

/// Parses a safetensors file held in `bytes`: tensors sorted by offset, plus `__metadata__`.
pub fn parse(file: &str, bytes: &[u8]) -> Result<(Vec<StEntry>, Metadata)> {
    let (n, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| FormatError::malformed(file, "safetensors header", e.to_string()))?;
    let base = 8 + n;
    let mut out = Vec::new();
    for name in meta.offset_keys() {
        let Some(ti) = meta.info(&name) else { continue };
        let ty = dtype_to_ggml(file, &name, ti.dtype)?;
        let (s, e) = ti.data_offsets;
        out.push(StEntry { info: TensorInfo { name, ty, shape: ti.shape.clone() }, start: base + s, end: base + e });
    }
    let mut md = Metadata::new();
    if let Some(m) = meta.metadata() {
        let mut kv: Vec<_> = m.iter().collect();
        kv.sort();
        for (k, v) in kv {
            md.set(k.clone(), Value::String(v.clone()));
        }
    }
    Ok((out, md))
}
