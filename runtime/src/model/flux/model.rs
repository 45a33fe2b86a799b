//! The whole DiT evaluation: embed, double blocks, single blocks, final layer. Blocks are
//! resident, or streamed (uploaded just before use and dropped after) for devices with less
//! memory than the model.

use super::common::{EditCache, Rope, Step};
use super::double::DoubleBlock;
use super::embed::Embedders;
use super::final_layer::FinalLayer;
use super::names::FluxWeights;
use super::single::SingleBlock;
use super::FluxConfig;
use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};
use crate::model::adapter::Adapter;
use crate::ops::{self, Activation, MapOp, Mat, MoeMode};
use crate::weights::Weights;
use std::path::Path;
use x2edit_kernels::reference::rope_flux_freqs;

#[derive(Clone, Copy, Debug)]
pub struct FluxOptions {
    /// Keep only the current block's weights on the GPU.
    pub stream: bool,
    pub moe: MoeMode,
    /// Rows per chunk of the MLP path; 0 chooses from the binding limit.
    pub chunk: usize,
}

impl Default for FluxOptions {
    fn default() -> Self {
        FluxOptions { stream: false, moe: MoeMode::Sparse, chunk: 0 }
    }
}

pub struct FluxModel {
    pub cfg: FluxConfig,
    fw: FluxWeights,
    adapter: Option<Adapter>,
    emb: Embedders,
    final_layer: FinalLayer,
    doubles: Vec<DoubleBlock>,
    singles: Vec<SingleBlock>,
    opts: FluxOptions,
    freqs: Tensor,
    axes: (u32, u32),
}

/// Per-edit inputs (host data; ids as f32 [tokens, 3]).
pub struct EditInputs<'a> {
    pub txt: &'a [f32],
    pub pooled: &'a [f32],
    pub cond: &'a [f32],
    pub txt_ids: &'a [f32],
    pub img_ids: &'a [f32],
    pub cond_ids: &'a [f32],
    pub guidance: f32,
    /// Task id for the MoE gates (required with an adapter).
    pub task: Option<usize>,
}

/// State of one edit: everything that does not change between steps.
pub struct Edit {
    txt: Tensor,
    cond: Tensor,
    constant: Tensor,
    cond_vec: Tensor,
    rope: Rope,
    task: Option<Vec<f32>>,
    cache: EditCache,
    lt: usize,
    n: usize,
    nc: usize,
}

impl FluxModel {
    pub fn load(gpu: &Gpu, transformer: &Path, config: Option<&Path>, adapter: Option<&Path>, opts: FluxOptions) -> Result<FluxModel> {
        let fw = FluxWeights::new(Weights::open(transformer)?);
        let adapter = adapter.map(Adapter::open).transpose()?;
        FluxModel::from_weights(gpu, fw, config, adapter, opts)
    }

    pub fn from_weights(gpu: &Gpu, fw: FluxWeights, config: Option<&Path>, adapter: Option<Adapter>, opts: FluxOptions) -> Result<FluxModel> {
        let cfg = FluxConfig::load(&fw, config)?;
        if let Some(a) = &adapter {
            if a.hidden != cfg.hidden {
                return Err(Error::invalid(
                    a.weights().label().to_string(),
                    format!("adapter hidden size {} does not match the transformer's {} (mismatched base and adapter)", a.hidden, cfg.hidden),
                ));
            }
        }
        let (f, a1, a2) = rope_flux_freqs(cfg.axes_dims, cfg.theta);
        let mut m = FluxModel {
            emb: Embedders::load(&fw, gpu, &cfg)?,
            final_layer: FinalLayer::load(&fw, gpu, cfg.hidden)?,
            doubles: Vec::new(),
            singles: Vec::new(),
            freqs: gpu.upload_f32(&f, &[f.len()])?,
            axes: (a1, a2),
            cfg,
            fw,
            adapter,
            opts,
        };
        if !opts.stream {
            for i in 0..m.cfg.depth {
                let b = m.double(gpu, i)?;
                m.doubles.push(b);
            }
            for i in 0..m.cfg.depth_single {
                let b = m.single(gpu, i)?;
                m.singles.push(b);
            }
        }
        Ok(m)
    }

    fn double(&self, gpu: &Gpu, i: usize) -> Result<DoubleBlock> {
        DoubleBlock::load(&self.fw, self.adapter.as_ref(), gpu, i, self.cfg.hidden)
    }

    fn single(&self, gpu: &Gpu, i: usize) -> Result<SingleBlock> {
        SingleBlock::load(&self.fw, self.adapter.as_ref(), gpu, i, self.cfg.hidden, self.cfg.mlp_hidden)
    }

    pub fn adapter(&self) -> Option<&Adapter> {
        self.adapter.as_ref()
    }

    /// Uploads and embeds what stays fixed during an edit.
    pub fn begin(&self, gpu: &Gpu, inp: &EditInputs) -> Result<Edit> {
        let c = &self.cfg;
        let count = |what: &str, data: &[f32], width: usize| -> Result<usize> {
            if width == 0 || !data.len().is_multiple_of(width) || data.is_empty() {
                return Err(Error::shape(what, format!("[*, {width}]"), data.len()));
            }
            Ok(data.len() / width)
        };
        let lt = count("txt", inp.txt, c.context_dim)?;
        let nc = count("cond", inp.cond, c.in_channels)?;
        for (what, ids, rows) in [("txt_ids", inp.txt_ids, lt), ("cond_ids", inp.cond_ids, nc)] {
            if ids.len() != rows * 3 {
                return Err(Error::shape(what, [rows, 3], ids.len()));
            }
        }
        let n = count("img_ids", inp.img_ids, 3)?;
        if inp.pooled.len() != c.vec_dim {
            return Err(Error::shape("pooled", [1, c.vec_dim], [inp.pooled.len()]));
        }
        let txt_host = gpu.upload_f32(inp.txt, &[lt, c.context_dim])?;
        let txt = ops::linear_as(gpu, Mat::of(&txt_host), &self.emb.txt_in, Activation::None, DType::F32)?;
        let cond_host = gpu.upload_f32(inp.cond, &[nc, c.in_channels])?;
        let cond = ops::linear_as(gpu, Mat::of(&cond_host), &self.emb.img_in, Activation::None, DType::F32)?;
        let pooled = gpu.upload_f32(inp.pooled, &[1, c.vec_dim])?;
        let constant = self.emb.constant(gpu, &pooled, inp.guidance)?;
        let cond_vec = self.emb.silu_vec(gpu, 0.0, &constant)?;
        let ids: Vec<f32> = inp.txt_ids.iter().chain(inp.img_ids).chain(inp.cond_ids).copied().collect();
        let task = match (&self.adapter, inp.task) {
            (Some(a), Some(t)) => Some(a.task_embedding(t)?.to_vec()),
            (Some(_), None) => return Err(Error::invalid("task", "the adapter needs a task id")),
            _ => None,
        };
        Ok(Edit {
            rope: Rope { ids: gpu.upload_f32(&ids, &[lt + n + nc, 3])?, freqs: self.freqs.clone(), axis1: self.axes.0, axis2: self.axes.1 },
            cache: EditCache::new(c.depth + c.depth_single, 4 * c.depth + 3 * c.depth_single),
            txt,
            cond,
            constant,
            cond_vec,
            task,
            lt,
            n,
            nc,
        })
    }

    fn chunk(&self, gpu: &Gpu, rows: usize) -> usize {
        if self.opts.chunk > 0 {
            return self.opts.chunk;
        }
        let wide = (self.cfg.hidden + self.cfg.mlp_hidden) as u64 * DType::act(gpu.act()).bytes_for(1);
        ((gpu.binding_limit() / 2 / wide) as usize).clamp(32, rows.max(32))
    }

    /// The velocity for the packed noisy latent `img` (f32 [n, in_channels]) at `sigma`.
    pub fn velocity(&self, gpu: &Gpu, e: &mut Edit, img: &Tensor, sigma: f32) -> Result<Tensor> {
        let c = &self.cfg;
        let h = c.hidden;
        if img.shape() != [e.n, c.in_channels] {
            return Err(Error::shape("img", [e.n, c.in_channels], img.shape()));
        }
        let vec = self.emb.silu_vec(gpu, sigma, &e.constant)?;
        let x = ops::linear_as(gpu, Mat::of(img), &self.emb.img_in, Activation::None, DType::F32)?;
        let txt = gpu.alloc(&[e.lt, h], DType::F32)?;
        ops::map(gpu, Mat::of(&e.txt), Mat::of(&txt), MapOp::Copy)?;
        let y = gpu.alloc(&[e.nc, h], DType::F32)?;
        ops::map(gpu, Mat::of(&e.cond), Mat::of(&y), MapOp::Copy)?;
        let st = Step {
            cfg: c,
            vec: &vec,
            cond_vec: &e.cond_vec,
            rope: &e.rope,
            moe: self.opts.moe,
            task: e.task.as_deref(),
            lt: e.lt,
            n: e.n,
            nc: e.nc,
            chunk: self.chunk(gpu, e.lt + e.n + e.nc),
        };
        for i in 0..c.depth {
            let streamed;
            let b = match self.doubles.get(i) {
                Some(b) => b,
                None => {
                    streamed = self.double(gpu, i)?;
                    &streamed
                }
            };
            b.forward(gpu, &x, &y, &txt, &st, &mut e.cache, i, 4 * i)?;
        }
        // single blocks run on [txt | noise] as one stream
        let s = gpu.alloc(&[e.lt + e.n, h], DType::F32)?;
        ops::map(gpu, Mat::of(&txt), Mat::of(&s).rows(0, e.lt), MapOp::Copy)?;
        ops::map(gpu, Mat::of(&x), Mat::of(&s).rows(e.lt, e.lt + e.n), MapOp::Copy)?;
        drop((x, txt));
        for i in 0..c.depth_single {
            let streamed;
            let b = match self.singles.get(i) {
                Some(b) => b,
                None => {
                    streamed = self.single(gpu, i)?;
                    &streamed
                }
            };
            b.forward(gpu, &s, &y, &st, &mut e.cache, c.depth + i, 4 * c.depth + 3 * i)?;
        }
        self.final_layer.forward(gpu, Mat::of(&s).rows(e.lt, e.lt + e.n), &vec)
    }
}
