//! Weights from any checkpoint `x2edit-quantize` opens (GGUF, safetensors, PyTorch zip;
//! files or folders, memory-mapped), uploaded to the GPU on demand: matrices keep their
//! storage type (quantized blocks are repacked to the aligned GPU layout, never dequantized),
//! vectors become f32. Unsupported block types are dequantized to f32 with a note.

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::Linear;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use x2edit_kernels::{layout, WeightFormat};
use x2edit_quantize::{Checkpoint, GgmlType, Metadata};

/// A checkpoint with an optional name prefix (e.g. `model.diffusion_model.`). Cheap to clone.
#[derive(Clone)]
pub struct Weights {
    ckpt: Arc<Checkpoint>,
    prefix: String,
}

pub fn weight_format(t: GgmlType) -> Option<WeightFormat> {
    Some(match t {
        GgmlType::F32 => WeightFormat::F32,
        GgmlType::F16 => WeightFormat::F16,
        GgmlType::BF16 => WeightFormat::BF16,
        GgmlType::Q8_0 => WeightFormat::Q8_0,
        GgmlType::Q4_0 => WeightFormat::Q4_0,
        GgmlType::Q4_1 => WeightFormat::Q4_1,
        GgmlType::Q5_0 => WeightFormat::Q5_0,
        GgmlType::Q5_1 => WeightFormat::Q5_1,
        GgmlType::Q4_K => WeightFormat::Q4_K,
        GgmlType::Q5_K => WeightFormat::Q5_K,
        GgmlType::Q6_K => WeightFormat::Q6_K,
        _ => return None,
    })
}

/// The ggml type stored in files for a GPU weight format (the inverse of `weight_format`).
pub fn ggml_type(f: WeightFormat) -> GgmlType {
    match f {
        WeightFormat::F32 => GgmlType::F32,
        WeightFormat::F16 => GgmlType::F16,
        WeightFormat::BF16 => GgmlType::BF16,
        WeightFormat::Q8_0 => GgmlType::Q8_0,
        WeightFormat::Q4_0 => GgmlType::Q4_0,
        WeightFormat::Q4_1 => GgmlType::Q4_1,
        WeightFormat::Q5_0 => GgmlType::Q5_0,
        WeightFormat::Q5_1 => GgmlType::Q5_1,
        WeightFormat::Q4_K => GgmlType::Q4_K,
        WeightFormat::Q5_K => GgmlType::Q5_K,
        WeightFormat::Q6_K => GgmlType::Q6_K,
    }
}

impl Weights {
    pub fn open(path: &Path) -> Result<Weights> {
        Ok(Weights::new(Checkpoint::open(path)?))
    }

    pub fn new(ckpt: Checkpoint) -> Weights {
        Weights { ckpt: Arc::new(ckpt), prefix: String::new() }
    }

    /// The same checkpoint seen with `prefix` prepended to every name.
    pub fn with_prefix(&self, prefix: &str) -> Weights {
        Weights { ckpt: self.ckpt.clone(), prefix: prefix.to_string() }
    }

    pub fn label(&self) -> &str {
        self.ckpt.label()
    }

    /// The prefix prepended to every name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn metadata(&self) -> &Metadata {
        self.ckpt.metadata()
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.ckpt
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn has(&self, name: &str) -> bool {
        self.ckpt.get(&self.full(name)).is_some()
    }

    /// Names (without the prefix) that start with `start`.
    pub fn names_with(&self, start: &str) -> Vec<String> {
        let p = self.full(start);
        self.ckpt.tensors().iter().filter(|t| t.name.starts_with(&p)).map(|t| t.name[self.prefix.len()..].to_string()).collect()
    }

    fn missing(&self, name: &str) -> Error {
        Error::invalid(self.label().to_string(), format!("tensor '{}' is missing", self.full(name)))
    }

    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        self.ckpt.get(&self.full(name)).map(|t| t.shape.clone()).ok_or_else(|| self.missing(name))
    }

    /// Checks a tensor's shape, naming file, tensor, expected and found.
    pub fn expect_shape(&self, name: &str, want: &[usize]) -> Result<()> {
        let got = self.shape(name)?;
        if got != want {
            return Err(Error::shape(format!("{}: {}", self.label(), self.full(name)), want, got));
        }
        Ok(())
    }

    /// The tensor as f32 on the CPU.
    pub fn cpu_f32(&self, name: &str) -> Result<Vec<f32>> {
        if !self.has(name) {
            return Err(self.missing(name));
        }
        Ok(self.ckpt.to_f32(&self.full(name))?)
    }

    /// An f32 GPU vector (biases, norm scales, small tables).
    pub fn vector(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        let v = self.cpu_f32(name)?;
        gpu.upload_f32(&v, &[v.len()])
    }

    /// A [n, k] weight (any 2-D-or-more tensor, trailing dims flattened) with optional bias.
    pub fn linear(&self, gpu: &Gpu, weight: &str, bias: Option<&str>) -> Result<Linear> {
        let n = *self.shape(weight)?.first().ok_or_else(|| Error::invalid(self.full(weight), "scalar weight"))?;
        self.linear_rows(gpu, weight, 0..n, bias)
    }

    /// Rows `rows` of a weight (and of its bias): splits fused projections at load.
    pub fn linear_rows(&self, gpu: &Gpu, weight: &str, rows: Range<usize>, bias: Option<&str>) -> Result<Linear> {
        let full = self.full(weight);
        let info = self.ckpt.get(&full).ok_or_else(|| self.missing(weight))?;
        let shape = info.shape.clone();
        let n = *shape.first().unwrap_or(&0);
        let k: usize = shape.iter().skip(1).product::<usize>().max(1);
        if rows.end > n || rows.is_empty() {
            return Err(Error::shape(full, format!("rows {rows:?}"), shape));
        }
        let weight_t = match weight_format(info.ty).filter(|f| k.is_multiple_of(f.block_elems())) {
            Some(f) => {
                let row_bytes = info.ty.row_bytes(k)?;
                // Only these rows: a ranged source (browser file) reads nothing else.
                let bytes = self.ckpt.data_range(&full, rows.start * row_bytes..rows.end * row_bytes)?;
                let packed = layout::repack(f, &bytes).map_err(|e| Error::invalid(&full, e.to_string()))?;
                gpu.upload_weights(&packed, &[rows.len(), k], DType::Weight(f))?
            }
            None => {
                let mut v = vec![0f32; rows.len() * k];
                self.ckpt.read_f32(&full, rows.start * k, &mut v)?;
                gpu.upload_weights(bytemuck::cast_slice(&v), &[rows.len(), k], DType::Weight(WeightFormat::F32))?
            }
        };
        self.ckpt.release(&full);
        let bias = match bias {
            Some(b) => {
                let v = self.cpu_f32(b)?;
                if v.len() != n {
                    return Err(Error::shape(self.full(b), [n], [v.len()]));
                }
                Some(gpu.upload_f32(&v[rows.clone()], &[rows.len()])?)
            }
            None => None,
        };
        Ok(Linear { weight: weight_t, bias, n: rows.len(), k })
    }
}

impl Weights {
    /// Several [n_i, k] weights of one storage type stacked by rows into one GPU matrix
    /// (MoE experts); mixed or unsupported types are stacked as f32.
    pub fn stack_rows(&self, gpu: &Gpu, names: &[String]) -> Result<Linear> {
        let infos = names
            .iter()
            .map(|n| self.ckpt.get(&self.full(n)).ok_or_else(|| self.missing(n)))
            .collect::<Result<Vec<_>>>()?;
        let first = infos.first().ok_or_else(|| Error::invalid(self.label().to_string(), "nothing to stack"))?;
        let k: usize = first.shape.iter().skip(1).product::<usize>().max(1);
        let mut n = 0;
        for i in &infos {
            let ki: usize = i.shape.iter().skip(1).product::<usize>().max(1);
            if ki != k {
                return Err(Error::shape(i.name.clone(), format!("[*, {k}]"), &i.shape));
            }
            n += i.shape[0];
        }
        let same = infos.iter().all(|i| i.ty == first.ty);
        let fmt = weight_format(first.ty).filter(|f| same && k.is_multiple_of(f.block_elems()));
        let t = match fmt {
            Some(f) => {
                let mut bytes = Vec::new();
                for i in &infos {
                    bytes.extend_from_slice(&self.ckpt.data(&i.name)?);
                }
                let packed = layout::repack(f, &bytes).map_err(|e| Error::invalid(&first.name, e.to_string()))?;
                gpu.upload_weights(&packed, &[n, k], DType::Weight(f))?
            }
            None => {
                let mut v = Vec::with_capacity(n * k);
                for i in &infos {
                    v.extend(self.ckpt.to_f32(&i.name)?);
                }
                gpu.upload_weights(bytemuck::cast_slice(&v), &[n, k], DType::Weight(WeightFormat::F32))?
            }
        };
        Ok(Linear { weight: t, bias: None, n, k })
    }
}
