//! Qwen2.5-VL's language model (text only) on our kernels: X2Edit's text encoder and, with
//! its lm_head, the task router. One struct per reference block, named like the checkpoint
//! keys (`model.layers.N.self_attn`, `.mlp`, `model.norm`, `lm_head`).
//!
//! Memory: the embedding table is never uploaded (rows are gathered on the CPU from the mapped
//! file); lm_head is uploaded in row chunks under the binding limit; in `Residency::Streaming`
//! each decoder layer's weights are uploaded just before it runs and released after, so the
//! GPU holds one layer's weights at a time.

mod attention;
mod config;
mod generate;
mod layer;
mod mlp;
mod names;
pub mod plan;
pub mod synthetic;

pub use attention::Attention;
pub use config::QwenConfig;
pub use generate::Generation;
pub use layer::DecoderLayer;
pub use mlp::Mlp;
pub use names::Naming;

use crate::error::{Error, Result};
use crate::gpu::{DType, Gpu, Tensor};
use crate::ops::{self, Linear, Mat};
use crate::text::Encoded;
use crate::weights::Weights;
use std::path::Path;

/// Where the decoder layers' weights live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Residency {
    /// All layers uploaded at load.
    #[default]
    Resident,
    /// One layer at a time, uploaded from the mapped file when it runs.
    Streaming,
}

/// Rotation inputs of the rows being processed: positions f32 [n] and frequencies [head_dim/2].
pub struct Rope {
    pub pos: Tensor,
    pub freqs: Tensor,
}

/// Keys and values of one layer, [capacity, kv_heads * head_dim] in the activation type.
pub struct KvSlot {
    pub k: Tensor,
    pub v: Tensor,
}

impl KvSlot {
    fn new(gpu: &Gpu, c: &QwenConfig, capacity: usize) -> Result<KvSlot> {
        let act = DType::act(gpu.act());
        Ok(KvSlot { k: gpu.alloc(&[capacity, c.kv_width()], act)?, v: gpu.alloc(&[capacity, c.kv_width()], act)? })
    }
}

/// Loads `[n, k]` = `shape` (and its bias), naming the tensor when the shape differs.
pub(crate) fn load_linear(gpu: &Gpu, w: &Weights, weight: &str, bias: Option<&str>, shape: [usize; 2]) -> Result<Linear> {
    w.expect_shape(weight, &shape)?;
    w.linear(gpu, weight, bias)
}

/// `model` (+ `lm_head`) of Qwen2.5-VL's language part.
pub struct Qwen2Model {
    pub config: QwenConfig,
    gpu: Gpu,
    weights: Weights,
    naming: Naming,
    /// Uploaded layers (Resident) or none (Streaming).
    layers: Vec<DecoderLayer>,
    residency: Residency,
    /// `model.norm.weight`
    norm: Tensor,
    rope_freqs: Tensor,
}

/// A decoder layer for one use: borrowed when resident, loaded when streaming.
enum LayerRef<'a> {
    Borrowed(&'a DecoderLayer),
    Owned(Box<DecoderLayer>),
}

impl std::ops::Deref for LayerRef<'_> {
    type Target = DecoderLayer;
    fn deref(&self) -> &DecoderLayer {
        match self {
            LayerRef::Borrowed(l) => l,
            LayerRef::Owned(l) => l,
        }
    }
}

impl Qwen2Model {
    /// An HF folder, our GGUF or a llama.cpp qwen2vl GGUF (vision tensors are ignored).
    pub fn open(gpu: &Gpu, path: &Path, residency: Residency) -> Result<Qwen2Model> {
        Qwen2Model::load(gpu, Weights::open(path)?, residency)
    }

    pub fn load(gpu: &Gpu, weights: Weights, residency: Residency) -> Result<Qwen2Model> {
        let naming = Naming::detect(&weights).ok_or_else(|| {
            Error::invalid(weights.label().to_string(), "no Qwen2 embedding table (model.embed_tokens.weight or token_embd.weight): not a Qwen2.5-VL text encoder")
        })?;
        let config = QwenConfig::from_weights(&weights, &naming)?;
        let c = &config;
        if c.hidden_size % weights.checkpoint().get(&naming.embed_tokens()).map_or(1, |t| t.ty.block_elems()) != 0 {
            return Err(Error::Unsupported(naming.embed_tokens(), "embedding rows that are not whole quantization blocks".into()));
        }
        let layers = match residency {
            Residency::Resident => (0..c.num_hidden_layers).map(|i| DecoderLayer::load(gpu, &weights, &naming, i, c)).collect::<Result<_>>()?,
            Residency::Streaming => Vec::new(),
        };
        // Fail early on a truncated file, even when streaming.
        for i in 0..c.num_hidden_layers {
            weights.shape(&naming.layer(i, "mlp.down_proj.weight"))?;
        }
        let norm_name = naming.name("model.norm.weight");
        weights.expect_shape(&norm_name, &[c.hidden_size])?;
        let norm = weights.vector(gpu, &norm_name)?;
        let freqs = x2edit_kernels::reference::rope_half_freqs(c.head_dim, c.rope_theta);
        let rope_freqs = gpu.upload_f32(&freqs, &[freqs.len()])?;
        Ok(Qwen2Model { config, gpu: gpu.clone(), weights, naming, layers, residency, norm, rope_freqs })
    }

    pub fn residency(&self) -> Residency {
        self.residency
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Drops every GPU buffer of the model and returns the pool's cached memory to the device
    /// (before the DiT loads).
    pub fn release(self) {
        let gpu = self.gpu.clone();
        drop(self);
        gpu.trim();
    }

    fn layer(&self, i: usize) -> Result<LayerRef<'_>> {
        match self.layers.get(i) {
            Some(l) => Ok(LayerRef::Borrowed(l)),
            None => Ok(LayerRef::Owned(Box::new(DecoderLayer::load(&self.gpu, &self.weights, &self.naming, i, &self.config)?))),
        }
    }

    /// Embedding rows of `ids`, dequantized on the CPU from the mapped table: f32 [n, hidden].
    pub fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let h = self.config.hidden_size;
        let name = self.naming.embed_tokens();
        let mut rows = vec![0f32; ids.len() * h];
        for (row, &id) in rows.chunks_mut(h).zip(ids) {
            if id as usize >= self.config.vocab_size {
                return Err(Error::invalid("input_ids", format!("token id {id} is outside the vocabulary of {}", self.config.vocab_size)));
            }
            self.weights.checkpoint().read_f32(&name, id as usize * h, row)?;
        }
        self.gpu.upload_f32(&rows, &[ids.len(), h])
    }

    /// Runs the layers over x (rows [past, past + n)), calling `visit(k, x)` with each hidden
    /// state as the reference stacks them: 0 = embeddings, k = output of layer k-1, and the
    /// last (k = layers) after the final norm. Returns that last one (f32 [n, hidden]).
    fn run(&self, x: &Tensor, enc_pos: &[f32], kv: &[KvSlot], past: usize, key_mask: Option<&Tensor>, visit: &mut dyn FnMut(usize, &Tensor) -> Result<()>) -> Result<Tensor> {
        let c = &self.config;
        let rope = Rope { pos: self.gpu.upload_f32(enc_pos, &[enc_pos.len()])?, freqs: self.rope_freqs.clone() };
        visit(0, x)?;
        for i in 0..c.num_hidden_layers {
            let layer = self.layer(i)?;
            let slot = &kv[i.min(kv.len() - 1)];
            layer.forward(&self.gpu, c, x, &rope, slot, past, key_mask)?;
            if i + 1 < c.num_hidden_layers {
                visit(i + 1, x)?;
            }
            if self.residency == Residency::Streaming {
                // Finish this layer before its buffers are reused by the next one's upload.
                self.gpu.flush()?;
            }
        }
        let y = self.gpu.alloc(x.shape(), DType::F32)?;
        ops::rms_norm(&self.gpu, Mat::of(x), Mat::of(&y), Some(&self.norm), c.rms_norm_eps)?;
        visit(c.num_hidden_layers, &y)?;
        Ok(y)
    }

    /// X2Edit's text encoding: every hidden state (layers + 1 of them, f32 [L, hidden]) of a
    /// padded prompt, handed to `visit` in order, pad rows included.
    pub fn hidden_states(&self, enc: &Encoded, mut visit: impl FnMut(usize, &Tensor) -> Result<()>) -> Result<()> {
        if enc.ids.len() != enc.mask.len() || enc.ids.is_empty() {
            return Err(Error::shape("input_ids / attention_mask", enc.ids.len(), enc.mask.len()));
        }
        let x = self.embed(&enc.ids)?;
        let kv = [KvSlot::new(&self.gpu, &self.config, enc.ids.len())?];
        let mask = self.key_mask(enc, enc.ids.len())?;
        self.run(&x, &enc.positions(), &kv, 0, mask.as_ref(), &mut visit)?;
        Ok(())
    }

    /// U32 [capacity] key mask (1 beyond the prompt), or None when nothing is padded.
    fn key_mask(&self, enc: &Encoded, capacity: usize) -> Result<Option<Tensor>> {
        if enc.mask.iter().all(|&m| m != 0) {
            return Ok(None);
        }
        let mut m: Vec<u32> = enc.mask.iter().map(|&v| (v != 0) as u32).collect();
        m.resize(capacity, 1);
        Ok(Some(self.gpu.upload_u32(&m, &[capacity])?))
    }

    /// Name of the output projection: `lm_head.weight`, or the embedding table when tied.
    fn lm_head_name(&self) -> String {
        let own = self.naming.name("lm_head.weight");
        if self.weights.has(&own) { own } else { self.naming.embed_tokens() }
    }

    /// Row ranges of lm_head that each fit one binding (152064 x 3584 does not), sized for
    /// f32 rows, the largest any format uploads as.
    pub fn lm_head_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let (v, h) = (self.config.vocab_size, self.config.hidden_size);
        let per = ((self.gpu.binding_limit() / 2) / (4 * h as u64)).max(1) as usize;
        (0..v).step_by(per).map(|r0| r0..(r0 + per).min(v)).collect()
    }

    pub fn lm_head_chunk(&self, rows: std::ops::Range<usize>) -> Result<Linear> {
        let name = self.lm_head_name();
        self.weights.expect_shape(&name, &[self.config.vocab_size, self.config.hidden_size])?;
        self.weights.linear_rows(&self.gpu, &name, rows, None)
    }

    /// The whole lm_head, uploaded as row chunks: (first row, chunk).
    pub fn lm_head(&self) -> Result<Vec<(usize, Linear)>> {
        self.lm_head_ranges().into_iter().map(|r| Ok((r.start, self.lm_head_chunk(r)?))).collect()
    }
}
