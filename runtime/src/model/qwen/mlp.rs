//! `model.layers.N.mlp`: SwiGLU, down_proj(silu(gate_proj(x)) * up_proj(x)), run over token
//! chunks so the [tokens, 2 x intermediate] activation stays small (77 MB in f32 at 512 x 18944
//! otherwise).

use super::names::Naming;
use super::{load_linear, QwenConfig};
use crate::error::Result;
use crate::gpu::{DType, Gpu};
use crate::ops::{self, Linear, Mat};
use crate::weights::Weights;
use x2edit_kernels::Activation;

/// Bytes of the gate|up activation of one token chunk.
pub const CHUNK_BYTES: usize = 16 << 20;

pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

/// Tokens per MLP chunk for an intermediate width and activation element size.
pub fn chunk_rows(intermediate: usize, elem_bytes: usize, tokens: usize) -> usize {
    (CHUNK_BYTES / (2 * intermediate * elem_bytes).max(1)).clamp(1, tokens.max(1))
}

impl Mlp {
    pub fn load(gpu: &Gpu, w: &Weights, n: &Naming, i: usize, c: &QwenConfig) -> Result<Mlp> {
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let p = |s: &str| n.layer(i, &format!("mlp.{s}.weight"));
        Ok(Mlp {
            gate_proj: load_linear(gpu, w, &p("gate_proj"), None, [f, h])?,
            up_proj: load_linear(gpu, w, &p("up_proj"), None, [f, h])?,
            down_proj: load_linear(gpu, w, &p("down_proj"), None, [h, f])?,
        })
    }

    /// residual += mlp(h), chunk by chunk of tokens.
    pub fn forward(&self, gpu: &Gpu, h: Mat, residual: Mat) -> Result<()> {
        let f = self.gate_proj.n;
        let act = DType::act(gpu.act());
        let es = if act == DType::F16 { 2 } else { 4 };
        let step = chunk_rows(f, es, h.rows);
        for r0 in (0..h.rows).step_by(step) {
            let r1 = (r0 + step).min(h.rows);
            let gu = gpu.alloc(&[r1 - r0, 2 * f], act)?;
            ops::matmul(gpu, h.rows(r0, r1), &self.gate_proj, Mat::of(&gu).cols(0, f), Activation::None, false)?;
            ops::matmul(gpu, h.rows(r0, r1), &self.up_proj, Mat::of(&gu).cols(f, 2 * f), Activation::None, false)?;
            let m = gpu.alloc(&[r1 - r0, f], act)?;
            ops::swiglu(gpu, Mat::of(&gu), Mat::of(&m))?;
            ops::matmul(gpu, Mat::of(&m), &self.down_proj, residual.rows(r0, r1), Activation::None, true)?;
        }
        Ok(())
    }
}
