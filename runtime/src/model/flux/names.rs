//! Where each logical FLUX tensor lives: BFL names (fused qkv, linear1 = q|k|v|mlp, final
//! adaLN as (shift, scale)) or diffusers names (split projections, (scale, shift)). The model
//! asks for logical parts; fused tensors are split by rows at load, keeping their storage type.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::ops::Linear;
use crate::weights::Weights;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    Bfl,
    Diffusers,
}

/// One logical linear layer: its BFL module and row range, its diffusers module and row range.
pub struct Part {
    pub bfl: String,
    pub bfl_rows: Option<Range<usize>>,
    pub diffusers: String,
    pub diffusers_rows: Option<Range<usize>>,
}

/// A layer stored whole under both conventions.
pub fn whole(bfl: impl Into<String>, diffusers: impl Into<String>) -> Part {
    Part { bfl: bfl.into(), bfl_rows: None, diffusers: diffusers.into(), diffusers_rows: None }
}

/// A layer fused into a larger BFL tensor (rows `rows`) and separate in diffusers.
pub fn fused(bfl: impl Into<String>, rows: Range<usize>, diffusers: impl Into<String>) -> Part {
    Part { bfl: bfl.into(), bfl_rows: Some(rows), diffusers: diffusers.into(), diffusers_rows: None }
}

#[derive(Clone)]
pub struct FluxWeights {
    w: Weights,
    naming: Naming,
}

impl FluxWeights {
    /// Detects the naming; strips the `model.diffusion_model.` / `model.` prefixes of community files.
    pub fn new(w: Weights) -> FluxWeights {
        for prefix in x2edit_quantize::names::flux::BFL_PREFIXES {
            if w.has(&format!("{prefix}img_in.weight")) {
                return FluxWeights { w: w.with_prefix(prefix), naming: Naming::Bfl };
            }
        }
        let naming = if w.has("img_in.weight") { Naming::Bfl } else { Naming::Diffusers };
        FluxWeights { w, naming }
    }

    pub fn weights(&self) -> &Weights {
        &self.w
    }

    pub fn naming(&self) -> Naming {
        self.naming
    }

    fn has_bias(&self, module: &str) -> Option<String> {
        let b = format!("{module}.bias");
        self.w.has(&b).then_some(b)
    }

    pub fn linear(&self, gpu: &Gpu, p: &Part) -> Result<Linear> {
        let (module, rows) = match self.naming {
            Naming::Bfl => (&p.bfl, &p.bfl_rows),
            Naming::Diffusers => (&p.diffusers, &p.diffusers_rows),
        };
        let wn = format!("{module}.weight");
        let bias = self.has_bias(module);
        match rows {
            Some(r) => self.w.linear_rows(gpu, &wn, r.clone(), bias.as_deref()),
            None => self.w.linear(gpu, &wn, bias.as_deref()),
        }
    }

    /// Storage format of the block matrices (the first double block's image MLP), for plans.
    pub fn block_format(&self) -> x2edit_kernels::WeightFormat {
        let name = match self.naming {
            Naming::Bfl => "double_blocks.0.img_mlp.0.weight",
            Naming::Diffusers => "transformer_blocks.0.ff.net.0.proj.weight",
        };
        self.w
            .checkpoint()
            .get(&format!("{}{name}", self.w.prefix()))
            .and_then(|t| crate::weights::weight_format(t.ty))
            .unwrap_or(x2edit_kernels::WeightFormat::F32)
    }

    /// A QK-norm scale (BFL `<m>.scale`, diffusers `<m>.weight`) on the CPU.
    pub fn norm(&self, bfl: &str, diffusers: &str) -> Result<Vec<f32>> {
        match self.naming {
            Naming::Bfl => self.w.cpu_f32(&format!("{bfl}.scale")),
            Naming::Diffusers => self.w.cpu_f32(&format!("{diffusers}.weight")),
        }
    }
}
