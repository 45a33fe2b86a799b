//! The X2Edit adapter: task-aware MoE-LoRA layers, the task embedding and AlignNet, from the
//! release folder (lora.safetensors, task_embeddings.bin, diffusion_pytorch_model.bin) or our
//! GGUF (architecture `x2edit`, see quantize/README.md).

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Linear, Mat, MoeExperts, MoeMode};
use crate::weights::Weights;
use std::path::Path;

#[derive(Clone)]
pub struct Adapter {
    w: Weights,
    task_key: &'static str,
    /// Task embedding table [tasks, hidden] on the CPU.
    tasks: Vec<f32>,
    pub hidden: usize,
    pub num_tasks: usize,
}

impl Adapter {
    pub fn open(path: &Path) -> Result<Adapter> {
        Adapter::new(Weights::open(path)?)
    }

    pub fn new(w: Weights) -> Result<Adapter> {
        let task_key = ["task_embedding.weight", "weight", "module.weight"]
            .into_iter()
            .find(|k| w.has(k))
            .ok_or_else(|| Error::invalid(w.label().to_string(), "no task embedding (task_embeddings.bin 'weight' or task_embedding.weight)"))?;
        let shape = w.shape(task_key)?;
        if shape.len() != 2 {
            return Err(Error::shape(format!("{}: {task_key}", w.label()), "[tasks, hidden]", shape));
        }
        let tasks = w.cpu_f32(task_key)?;
        Ok(Adapter { task_key, tasks, hidden: shape[1], num_tasks: shape[0], w })
    }

    pub fn weights(&self) -> &Weights {
        &self.w
    }

    /// LoRA rank (rows of the first expert's down projection), 0 without LoRA layers.
    pub fn rank(&self) -> usize {
        self.w.names_with("transformer_blocks.0.attn.processor.q_moe_lora.experts.0.down.weight").first().and_then(|n| self.w.shape(n).ok()).map_or(0, |s| s[0])
    }

    /// AlignNet's weights (names `conv.weight`, `mlp.…` whatever the container).
    pub fn alignnet(&self) -> Weights {
        if self.task_key == "task_embedding.weight" {
            self.w.with_prefix("alignnet.")
        } else if self.w.has("module.conv.weight") {
            self.w.with_prefix("module.")
        } else {
            self.w.clone()
        }
    }

    pub fn task_embedding(&self, id: usize) -> Result<&[f32]> {
        if id >= self.num_tasks {
            return Err(Error::invalid("task", format!("id {id} is outside 0..{}", self.num_tasks)));
        }
        Ok(&self.tasks[id * self.hidden..(id + 1) * self.hidden])
    }

    /// The MoE-LoRA layer under `prefix` (e.g. `transformer_blocks.3.attn.processor.q_moe_lora`),
    /// or None when the adapter has none there.
    pub fn layer(&self, gpu: &Gpu, prefix: &str) -> Result<Option<MoeLora>> {
        if !self.w.has(&format!("{prefix}.gate.weight")) {
            return Ok(None);
        }
        MoeLora::load(&self.w, gpu, prefix).map(Some)
    }
}

/// One MoE-LoRA layer on the GPU, plus the task half of its gate (kept on the CPU: the task
/// embedding is constant for an edit, so its logits are computed once).
pub struct MoeLora {
    pub experts: MoeExperts,
    task_gate: Vec<f32>,
}

impl MoeLora {
    fn load(w: &Weights, gpu: &Gpu, prefix: &str) -> Result<MoeLora> {
        let mut e = 0;
        while w.has(&format!("{prefix}.experts.{e}.down.weight")) {
            e += 1;
        }
        let names = |part: &str| (0..e).map(|i| format!("{prefix}.experts.{i}.{part}.weight")).collect::<Vec<_>>();
        let down = w.stack_rows(gpu, &names("down"))?;
        let up = w.stack_rows(gpu, &names("up"))?;
        let rank = down.n / e.max(1);
        let dim_in = down.k;
        let dim_out = up.n / e.max(1);
        let shared_down = w.linear(gpu, &format!("{prefix}.shared_experts.down.weight"), None)?;
        let shared_up = w.linear(gpu, &format!("{prefix}.shared_experts.up.weight"), None)?;
        let gname = format!("{prefix}.gate.weight");
        w.expect_shape(&gname, &[e, 2 * dim_in])?;
        if up.k != rank || shared_down.n != rank || shared_up.k != rank || shared_up.n != dim_out {
            return Err(Error::invalid(prefix, format!("inconsistent LoRA shapes: rank {rank}, down {:?}, up {:?}", [down.n, down.k], [up.n, up.k])));
        }
        let gate = w.cpu_f32(&gname)?;
        let hidden: Vec<f32> = gate.chunks(2 * dim_in).flat_map(|r| r[..dim_in].to_vec()).collect();
        let task_gate: Vec<f32> = gate.chunks(2 * dim_in).flat_map(|r| r[dim_in..].to_vec()).collect();
        let gate = Linear { weight: gpu.upload_weights(bytemuck::cast_slice(&hidden), &[e, dim_in], DType::Weight(x2edit_kernels::WeightFormat::F32))?, bias: None, n: e, k: dim_in };
        Ok(MoeLora { experts: MoeExperts { experts: e, rank, dim_in, dim_out, down, up, shared_down, shared_up, gate }, task_gate })
    }

    /// W_task @ task_embedding: the per-edit bias of the gate logits, f32 [E].
    pub fn task_logits(&self, gpu: &Gpu, task: &[f32]) -> Result<Tensor> {
        let h = self.experts.dim_in;
        if task.len() != h {
            return Err(Error::shape("task embedding", [h], [task.len()]));
        }
        let v: Vec<f32> = self.task_gate.chunks(h).map(|r| r.iter().zip(task).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() as f32).collect();
        gpu.upload_f32(&v, &[v.len()])
    }

    /// y += MoE-LoRA(x).
    pub fn apply(&self, gpu: &Gpu, x: Mat, task_logits: &Tensor, y: Mat, mode: MoeMode) -> Result<()> {
        ops::moe_lora(gpu, x, &self.experts, task_logits, y, mode).map(|_| ())
    }
}
