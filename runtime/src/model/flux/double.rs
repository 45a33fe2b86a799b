//! FLUX double-stream block with X2Edit's cond stream: noise and cond tokens share the image
//! weights (cond modulated at t = 0), text has its own; joint attention over
//! [txt | noise | cond] with no mask; MoE-LoRA on the image stream's q/k/v and on the output
//! of its attention projection.

use super::common::{joint_attention, modulated_mlp, modulation, moe, qk_norm_rope, EditCache, Step};
use super::names::{fused, whole, FluxWeights};
use crate::error::Result;
use crate::gpu::{DType, Gpu, Tensor};
use crate::model::adapter::{Adapter, MoeLora};
use crate::ops::{self, Activation, Linear, Mat};

/// One stream's attention weights (`img_attn` / `txt_attn`).
pub struct StreamAttn {
    q: Linear,
    k: Linear,
    v: Linear,
    norm_q: Tensor,
    norm_k: Tensor,
    proj: Linear,
}

impl StreamAttn {
    fn load(fw: &FluxWeights, gpu: &Gpu, b: &str, d: &str, stream: &str, h: usize) -> Result<StreamAttn> {
        let img = stream == "img";
        let (dq, dk, dv) = if img { ("to_q", "to_k", "to_v") } else { ("add_q_proj", "add_k_proj", "add_v_proj") };
        let qkv = format!("{b}.{stream}_attn.qkv");
        let nq = fw.norm(&format!("{b}.{stream}_attn.norm.query_norm"), &format!("{d}.attn.{}", if img { "norm_q" } else { "norm_added_q" }))?;
        let nk = fw.norm(&format!("{b}.{stream}_attn.norm.key_norm"), &format!("{d}.attn.{}", if img { "norm_k" } else { "norm_added_k" }))?;
        Ok(StreamAttn {
            q: fw.linear(gpu, &fused(&qkv, 0..h, format!("{d}.attn.{dq}")))?,
            k: fw.linear(gpu, &fused(&qkv, h..2 * h, format!("{d}.attn.{dk}")))?,
            v: fw.linear(gpu, &fused(&qkv, 2 * h..3 * h, format!("{d}.attn.{dv}")))?,
            norm_q: gpu.upload_f32(&nq, &[nq.len()])?,
            norm_k: gpu.upload_f32(&nk, &[nk.len()])?,
            proj: fw.linear(gpu, &whole(format!("{b}.{stream}_attn.proj"), format!("{d}.attn.{}", if img { "to_out.0" } else { "to_add_out" })))?,
        })
    }

    /// q/k/v of `x` into rows [r0, r0 + x.rows) of the joint buffers.
    fn qkv(&self, gpu: &Gpu, x: Mat, q: &Tensor, k: &Tensor, v: &Tensor, r0: usize) -> Result<()> {
        for (w, out) in [(&self.q, q), (&self.k, k), (&self.v, v)] {
            ops::matmul(gpu, x, w, Mat::of(out).rows(r0, r0 + x.rows), Activation::None, false)?;
        }
        Ok(())
    }
}

pub struct DoubleBlock {
    img_mod: Linear,
    txt_mod: Linear,
    img_attn: StreamAttn,
    txt_attn: StreamAttn,
    img_mlp: [Linear; 2],
    txt_mlp: [Linear; 2],
    /// MoE-LoRA on q, k, v and proj (X2Edit's `{q,k,v,proj}_moe_lora`).
    lora: [Option<MoeLora>; 4],
}

impl DoubleBlock {
    pub fn load(fw: &FluxWeights, adapter: Option<&Adapter>, gpu: &Gpu, i: usize, h: usize) -> Result<DoubleBlock> {
        let b = format!("double_blocks.{i}");
        let d = format!("transformer_blocks.{i}");
        let mut lora = [None, None, None, None];
        if let Some(a) = adapter {
            for (slot, p) in lora.iter_mut().zip(["q", "k", "v", "proj"]) {
                *slot = a.layer(gpu, &format!("{d}.attn.processor.{p}_moe_lora"))?;
            }
        }
        Ok(DoubleBlock {
            img_mod: fw.linear(gpu, &whole(format!("{b}.img_mod.lin"), format!("{d}.norm1.linear")))?,
            txt_mod: fw.linear(gpu, &whole(format!("{b}.txt_mod.lin"), format!("{d}.norm1_context.linear")))?,
            img_attn: StreamAttn::load(fw, gpu, &b, &d, "img", h)?,
            txt_attn: StreamAttn::load(fw, gpu, &b, &d, "txt", h)?,
            img_mlp: [
                fw.linear(gpu, &whole(format!("{b}.img_mlp.0"), format!("{d}.ff.net.0.proj")))?,
                fw.linear(gpu, &whole(format!("{b}.img_mlp.2"), format!("{d}.ff.net.2")))?,
            ],
            txt_mlp: [
                fw.linear(gpu, &whole(format!("{b}.txt_mlp.0"), format!("{d}.ff_context.net.0.proj")))?,
                fw.linear(gpu, &whole(format!("{b}.txt_mlp.2"), format!("{d}.ff_context.net.2")))?,
            ],
            lora,
        })
    }

    /// Updates the f32 streams x (noise), y (cond) and c (text) in place. `index` is the
    /// block's position, `moe_base` its first MoE layer index in the edit cache.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, gpu: &Gpu, x: &Tensor, y: &Tensor, c: &Tensor, st: &Step, cache: &mut EditCache, index: usize, moe_base: usize) -> Result<()> {
        let h = st.cfg.hidden;
        let (lt, n, nc) = (st.lt, st.n, st.nc);
        let t = lt + n + nc;
        let act = DType::act(gpu.act());
        let img_m = modulation(gpu, &self.img_mod, st.vec, None)?;
        let cond_m = modulation(gpu, &self.img_mod, st.cond_vec, Some(&mut cache.cond_mods[index]))?;
        let txt_m = modulation(gpu, &self.txt_mod, st.vec, None)?;
        // (1 + scale1) LN + shift1 of each stream; image stream = [noise | cond]
        let ni = gpu.alloc(&[n + nc, h], act)?;
        ops::layer_norm_modulate(gpu, Mat::of(x), Mat::of(&ni).rows(0, n), (&img_m, h), (&img_m, 0), 1e-6)?;
        ops::layer_norm_modulate(gpu, Mat::of(y), Mat::of(&ni).rows(n, n + nc), (&cond_m, h), (&cond_m, 0), 1e-6)?;
        let nt = gpu.alloc(&[lt, h], act)?;
        ops::layer_norm_modulate(gpu, Mat::of(c), Mat::of(&nt), (&txt_m, h), (&txt_m, 0), 1e-6)?;
        let (q, k, v) = (gpu.alloc(&[t, h], act)?, gpu.alloc(&[t, h], act)?, gpu.alloc(&[t, h], act)?);
        self.txt_attn.qkv(gpu, Mat::of(&nt), &q, &k, &v, 0)?;
        self.img_attn.qkv(gpu, Mat::of(&ni), &q, &k, &v, lt)?;
        for (i, out) in [&q, &k, &v].into_iter().enumerate() {
            moe(gpu, self.lora[i].as_ref(), &mut cache.task_logits[moe_base + i], Mat::of(&ni), Mat::of(out).rows(lt, t), st)?;
        }
        drop((ni, nt));
        qk_norm_rope(gpu, &q, 0, lt, &self.txt_attn.norm_q, st)?;
        qk_norm_rope(gpu, &q, lt, t, &self.img_attn.norm_q, st)?;
        qk_norm_rope(gpu, &k, 0, lt, &self.txt_attn.norm_k, st)?;
        qk_norm_rope(gpu, &k, lt, t, &self.img_attn.norm_k, st)?;
        let a = gpu.alloc(&[t, h], act)?;
        joint_attention(gpu, &q, &k, &v, &a, st.cfg)?;
        drop((q, k, v));
        // image projection, then the proj MoE-LoRA on its output: h = W_o a + b; h += MoE(h)
        let pi = ops::linear(gpu, Mat::of(&a).rows(lt, t), &self.img_attn.proj, Activation::None)?;
        moe(gpu, self.lora[3].as_ref(), &mut cache.task_logits[moe_base + 3], Mat::of(&pi), Mat::of(&pi), st)?;
        let pt = ops::linear(gpu, Mat::of(&a).rows(0, lt), &self.txt_attn.proj, Activation::None)?;
        ops::gated_residual(gpu, Mat::of(x), Mat::of(&pi).rows(0, n), Some((&img_m, 2 * h)))?;
        ops::gated_residual(gpu, Mat::of(y), Mat::of(&pi).rows(n, n + nc), Some((&cond_m, 2 * h)))?;
        ops::gated_residual(gpu, Mat::of(c), Mat::of(&pt), Some((&txt_m, 2 * h)))?;
        let [w0, w2] = &self.img_mlp;
        modulated_mlp(gpu, Mat::of(x), &img_m, [3, 4, 5], w0, w2, st.chunk)?;
        modulated_mlp(gpu, Mat::of(y), &cond_m, [3, 4, 5], w0, w2, st.chunk)?;
        let [t0, t2] = &self.txt_mlp;
        modulated_mlp(gpu, Mat::of(c), &txt_m, [3, 4, 5], t0, t2, st.chunk)
    }
}
