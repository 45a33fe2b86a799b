//! FLUX single-stream block with X2Edit's cond stream: [txt | noise] modulated at t, cond at
//! t = 0, one attention over [txt | noise | cond] with MoE-LoRA on q/k/v of every token, then
//! linear2 over [attention | GELU(mlp)] per stream with its own gate.

use super::common::{joint_attention, modulation, moe, qk_norm_rope, EditCache, Step};
use super::names::{fused, whole, FluxWeights};
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::model::adapter::{Adapter, MoeLora};
use crate::ops::{self, Activation, Linear, Mat, MapOp};

pub struct SingleBlock {
    modulation: Linear,
    q: Linear,
    k: Linear,
    v: Linear,
    mlp: Linear,
    norm_q: Tensor,
    norm_k: Tensor,
    linear2: Linear,
    lora: [Option<MoeLora>; 3],
}

impl SingleBlock {
    pub fn load(fw: &FluxWeights, adapter: Option<&Adapter>, gpu: &Gpu, i: usize, h: usize, mlp: usize) -> Result<SingleBlock> {
        let b = format!("single_blocks.{i}");
        let d = format!("single_transformer_blocks.{i}");
        let l1 = format!("{b}.linear1");
        let mut lora = [None, None, None];
        if let Some(a) = adapter {
            for (slot, p) in lora.iter_mut().zip(["q", "k", "v"]) {
                *slot = a.layer(gpu, &format!("{d}.attn.processor.{p}_moe_lora"))?;
            }
        }
        let nq = fw.norm(&format!("{b}.norm.query_norm"), &format!("{d}.attn.norm_q"))?;
        let nk = fw.norm(&format!("{b}.norm.key_norm"), &format!("{d}.attn.norm_k"))?;
        Ok(SingleBlock {
            modulation: fw.linear(gpu, &whole(format!("{b}.modulation.lin"), format!("{d}.norm.linear")))?,
            q: fw.linear(gpu, &fused(&l1, 0..h, format!("{d}.attn.to_q")))?,
            k: fw.linear(gpu, &fused(&l1, h..2 * h, format!("{d}.attn.to_k")))?,
            v: fw.linear(gpu, &fused(&l1, 2 * h..3 * h, format!("{d}.attn.to_v")))?,
            mlp: fw.linear(gpu, &fused(&l1, 3 * h..3 * h + mlp, format!("{d}.proj_mlp")))?,
            norm_q: gpu.upload_f32(&nq, &[nq.len()])?,
            norm_k: gpu.upload_f32(&nk, &[nk.len()])?,
            linear2: fw.linear(gpu, &whole(format!("{b}.linear2"), format!("{d}.proj_out")))?,
            lora,
        })
    }

    /// Updates s ([txt | noise], f32) and y (cond, f32) in place.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, gpu: &Gpu, s: &Tensor, y: &Tensor, st: &Step, cache: &mut EditCache, index: usize, moe_base: usize) -> Result<()> {
        let h = st.cfg.hidden;
        let ls = st.lt + st.n;
        let t = ls + st.nc;
        let act = DType::act(gpu.act());
        let m = modulation(gpu, &self.modulation, st.vec, None)?;
        let cm = modulation(gpu, &self.modulation, st.cond_vec, Some(&mut cache.cond_mods[index]))?;
        let ns = gpu.alloc(&[t, h], act)?;
        ops::layer_norm_modulate(gpu, Mat::of(s), Mat::of(&ns).rows(0, ls), (&m, h), (&m, 0), 1e-6)?;
        ops::layer_norm_modulate(gpu, Mat::of(y), Mat::of(&ns).rows(ls, t), (&cm, h), (&cm, 0), 1e-6)?;
        let (q, k, v) = (
            ops::linear(gpu, Mat::of(&ns), &self.q, Activation::None)?,
            ops::linear(gpu, Mat::of(&ns), &self.k, Activation::None)?,
            ops::linear(gpu, Mat::of(&ns), &self.v, Activation::None)?,
        );
        for (i, out) in [&q, &k, &v].into_iter().enumerate() {
            moe(gpu, self.lora[i].as_ref(), &mut cache.task_logits[moe_base + i], Mat::of(&ns), Mat::of(out), st)?;
        }
        qk_norm_rope(gpu, &q, 0, t, &self.norm_q, st)?;
        qk_norm_rope(gpu, &k, 0, t, &self.norm_k, st)?;
        let a = gpu.alloc(&[t, h], act)?;
        joint_attention(gpu, &q, &k, &v, &a, st.cfg)?;
        drop((q, k, v));
        // linear2([attention | GELU(mlp)]) per chunk of rows, never straddling the streams
        let wide = h + self.mlp.n;
        for (res, base, mods) in [(s, 0, &m), (y, ls, &cm)] {
            let rows = if base == 0 { ls } else { st.nc };
            for r0 in (0..rows).step_by(st.chunk.max(1)) {
                let r1 = (r0 + st.chunk).min(rows);
                let cat = gpu.alloc(&[r1 - r0, wide], act)?;
                ops::map(gpu, Mat::of(&a).rows(base + r0, base + r1), Mat::of(&cat).cols(0, h), MapOp::Copy)?;
                ops::matmul(gpu, Mat::of(&ns).rows(base + r0, base + r1), &self.mlp, Mat::of(&cat).cols(h, wide), Activation::GeluTanh, false)?;
                let out = ops::linear(gpu, Mat::of(&cat), &self.linear2, Activation::None)?;
                ops::gated_residual(gpu, Mat::of(res).rows(r0, r1), Mat::of(&out), Some((mods, 2 * h)))?;
            }
        }
        Ok(())
    }
}
