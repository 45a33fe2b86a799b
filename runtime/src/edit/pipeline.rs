//! One edit, stage after stage (text -> release -> VAE encode -> DiT steps -> VAE decode), each
//! stage's weights loaded for it and dropped after, with progress, cancellation and an
//! optional memory budget that turns on block streaming and VAE tiling.

use super::image::{prepare, Image, SizeMode};
use super::models::ModelSet;
use super::noise;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::adapter::Adapter;
use crate::model::alignnet::{Conv, Mlp3};
use crate::model::flux::{plan, EditInputs, FluxConfig, FluxModel, FluxOptions, FluxWeights, PlanWeights};
use crate::model::qwen::{Qwen2Model, Residency};
use crate::model::vae::{Parts, Planes, Posterior, Vae, VaeOptions};
use crate::ops::{self, MoeMode};
use crate::sampler::{sigmas, Shift};
use crate::text::{align_head_async, encode_hidden_async, encode_instruction, route_async, PromptFormat, Task, TaskChoice, ROUTE_MAX_NEW_TOKENS};
use std::sync::atomic::{AtomicBool, Ordering};
use crate::clock::Stopwatch;

pub struct EditRequest<'a> {
    pub image: &'a Image,
    pub prompt: &'a str,
    pub task: TaskChoice,
    pub prompt_format: PromptFormat,
    /// None: 28 for bases with guidance_in, 4 without.
    pub steps: Option<usize>,
    pub guidance: f32,
    pub seed: u64,
    /// None: the model's native size.
    pub size: Option<SizeMode>,
    /// The packed initial latent [N, 64] instead of the seeded noise.
    pub noise: Option<&'a [f32]>,
    /// Sample the VAE posterior of the source (seeded) instead of taking its mean.
    pub cond_sample: bool,
    /// Bytes of GPU memory the edit may hold at once.
    pub memory_budget: Option<u64>,
    pub moe: MoeMode,
}

impl<'a> EditRequest<'a> {
    pub fn new(image: &'a Image, prompt: &'a str) -> EditRequest<'a> {
        EditRequest {
            image,
            prompt,
            task: TaskChoice::Auto,
            prompt_format: PromptFormat::X2Edit,
            steps: None,
            guidance: 3.5,
            seed: 0,
            size: None,
            noise: None,
            cond_sample: false,
            memory_budget: None,
            moe: MoeMode::Sparse,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Text,
    Encode,
    Denoise,
    Decode,
}

#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub stage: Stage,
    /// Denoising step done (0 before the first), out of `steps`.
    pub step: usize,
    pub steps: usize,
}

pub struct EditOutput {
    pub image: Image,
    pub task: Task,
    pub steps: usize,
    /// Seconds per stage, in order.
    pub timings: Vec<(Stage, f64)>,
    /// Peak GPU memory held by the runtime during the edit, bytes.
    pub peak_memory: u64,
}

fn check(cancel: &AtomicBool) -> Result<()> {
    if cancel.load(Ordering::Relaxed) {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// The source prepared for the model's native size or the requested mode.
fn source(models: &ModelSet, req: &EditRequest) -> Result<(Image, usize)> {
    let mode = match req.size {
        Some(m) => m,
        None => match models.native_size() {
            1024 => SizeMode::Px1024,
            512 => SizeMode::Px512,
            native => {
                // small models: the long side to the native size, then `source` rounding
                let (w, h) = (req.image.width, req.image.height);
                let s = native as f64 / w.max(h) as f64;
                let fitted = req.image.resize(((w as f64 * s).round() as usize).max(16), ((h as f64 * s).round() as usize).max(16));
                return prepare(&fitted, SizeMode::Source);
            }
        },
    };
    prepare(req.image, mode)
}

/// Blocking `edit_async` (native: CLI, C ABI, tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn edit(gpu: &Gpu, models: &ModelSet, req: &EditRequest, progress: &mut dyn FnMut(&Progress), cancel: &AtomicBool) -> Result<EditOutput> {
    pollster::block_on(edit_async(gpu, models, req, progress, cancel))
}

/// One edit. Awaits only GPU readbacks and step completions, so in a browser the page (or a
/// worker's message loop, where `cancel` is set) runs between steps.
pub async fn edit_async(gpu: &Gpu, models: &ModelSet, req: &EditRequest<'_>, progress: &mut dyn FnMut(&Progress), cancel: &AtomicBool) -> Result<EditOutput> {
    if req.prompt.trim().is_empty() {
        return Err(Error::invalid("prompt", "the instruction is empty"));
    }
    gpu.reset_peak();
    let mut timings = Vec::new();
    let mut peak = 0u64;
    let adapter = Adapter::new(models.adapter.clone())?;
    // Models that do not belong together fail before any work.
    let fw = FluxWeights::new(models.transformer.clone());
    let cfg = FluxConfig::load(&fw, models.transformer_config.as_deref())?;
    if adapter.hidden != cfg.hidden {
        return Err(Error::invalid(
            adapter.weights().label().to_string(),
            format!("adapter hidden size {} does not match the transformer's {} (mismatched base and adapter)", adapter.hidden, cfg.hidden),
        ));
    }
    let (img, offset) = source(models, req)?;
    let stream_text = req.memory_budget.is_some();

    // Text: Qwen2.5 hidden states into AlignNet's conv, routing, then the encoder is released.
    let t0 = Stopwatch::start();
    progress(&Progress { stage: Stage::Text, step: 0, steps: 0 });
    let enc = encode_instruction(&models.tokenizer, req.prompt, req.prompt_format)?;
    let align = adapter.alignnet();
    let (txt, pooled, task) = {
        let qwen = Qwen2Model::load(gpu, models.text_encoder.clone(), if stream_text { Residency::Streaming } else { Residency::Resident })?;
        let conv = Conv::load(gpu, &align)?;
        let hidden = encode_hidden_async(&qwen, &conv, &enc, false).await?;
        check(cancel)?;
        let task = match req.task {
            TaskChoice::Fixed(t) => t,
            TaskChoice::Auto => route_async(&qwen, &models.tokenizer, req.prompt, ROUTE_MAX_NEW_TOKENS).await?.task,
        };
        qwen.release();
        let mlp = Mlp3::load(gpu, &align)?;
        let (txt, pooled) = align_head_async(gpu, &mlp, &hidden.conv).await?;
        (txt, pooled, task)
    };
    peak = peak.max(gpu.memory().peak);
    gpu.trim();
    timings.push((Stage::Text, t0.secs()));
    check(cancel)?;

    // VAE encode of the source (posterior mean unless sampling was asked for).
    let t0 = Stopwatch::start();
    progress(&Progress { stage: Stage::Encode, step: 0, steps: 0 });
    let vae_opts = VaeOptions { memory_budget: req.memory_budget, ..Default::default() };
    let planes = Planes::new(3, img.height, img.width, img.to_planar())?;
    let cond_lat = {
        let vae = Vae::load(gpu, &models.vae, None, Parts::Encoder)?;
        let f = vae.config.factor();
        let (lh, lw) = (img.height / f, img.width / f);
        let eps = req.cond_sample.then(|| noise::normal(req.seed ^ 0x5eed_c0de, vae.config.latent_channels * lh * lw));
        let post = eps.as_deref().map_or(Posterior::Mean, Posterior::Sample);
        vae.encode_async(gpu, &planes, &vae_opts, post).await?
    };
    peak = peak.max(gpu.memory().peak);
    gpu.trim();
    timings.push((Stage::Encode, t0.secs()));
    check(cancel)?;

    // DiT: the Euler loop from noise, cond tokens at (0, y + offset, x).
    let t0 = Stopwatch::start();
    let (c, lh, lw) = (cond_lat.c, cond_lat.h, cond_lat.w);
    if lh % 2 != 0 || lw % 2 != 0 {
        return Err(Error::invalid("image", format!("latent {lh}x{lw} is not a multiple of the 2x2 patch")));
    }
    let cond = noise::pack(&cond_lat.data, c, lh, lw);
    let n = (lh / 2) * (lw / 2);
    let stream = dit_streaming(gpu, &fw, models, &adapter, (txt.len(), n, n), req.memory_budget)?;
    let opts = FluxOptions { stream, moe: req.moe, chunk: 0 };
    let model = FluxModel::from_weights(gpu, fw, models.transformer_config.as_deref(), Some(adapter), opts)?;
    let cfg = model.cfg.clone();
    if cfg.in_channels != 4 * c {
        return Err(Error::invalid("models", format!("the transformer takes {} channels, the VAE gives {} (mismatched models)", cfg.in_channels, 4 * c)));
    }
    let steps = req.steps.unwrap_or(if cfg.guidance_embed { 28 } else { 4 });
    let sig = sigmas(steps, n, Shift::for_base(cfg.guidance_embed))?;
    let lt = txt.len() / cfg.context_dim;
    let mut e = model.begin(
        gpu,
        &EditInputs {
            txt: &txt,
            pooled: &pooled,
            cond: &cond,
            txt_ids: &vec![0.0; lt * 3],
            img_ids: &noise::ids(lh / 2, lw / 2, 0),
            cond_ids: &noise::ids(lh / 2, lw / 2, offset),
            guidance: req.guidance,
            task: Some(task.id() as usize),
        },
    )?;
    let init = match req.noise {
        Some(v) if v.len() == n * cfg.in_channels => v.to_vec(),
        Some(v) => return Err(Error::shape("noise", [1, n, cfg.in_channels], [v.len()])),
        None => noise::pack(&noise::normal(req.seed, c * lh * lw), c, lh, lw),
    };
    let x = gpu.upload_f32(&init, &[n, cfg.in_channels])?;
    for (i, w) in sig.windows(2).enumerate() {
        progress(&Progress { stage: Stage::Denoise, step: i, steps });
        let v = model.velocity(gpu, &mut e, &x, w[0])?;
        ops::euler_step(gpu, &x, &v, w[0], w[1])?;
        gpu.sync_async().await?;
        check(cancel)?;
    }
    progress(&Progress { stage: Stage::Denoise, step: steps, steps });
    let latent = gpu.read_f32_async(&x).await?;
    drop((x, e, model));
    peak = peak.max(gpu.memory().peak);
    gpu.trim();
    timings.push((Stage::Denoise, t0.secs()));

    // VAE decode.
    let t0 = Stopwatch::start();
    progress(&Progress { stage: Stage::Decode, step: 0, steps: 0 });
    let z = Planes::new(c, lh, lw, noise::unpack(&latent, c, lh, lw))?;
    let decoded = Vae::load(gpu, &models.vae, None, Parts::Decoder)?.decode_async(gpu, &z, &vae_opts).await?;
    let mut out = Image::from_planar(&decoded.data, decoded.w, decoded.h)?;
    if img.channels == 4 {
        out = with_alpha(&out, &img);
    }
    peak = peak.max(gpu.memory().peak);
    gpu.trim();
    timings.push((Stage::Decode, t0.secs()));
    Ok(EditOutput { image: out, task, steps, timings, peak_memory: peak })
}

/// Whether the DiT must stream its blocks to fit `budget`; an error when even streaming would
/// not fit (the dry-run plan, `model::flux::plan`).
fn dit_streaming(gpu: &Gpu, fw: &FluxWeights, models: &ModelSet, adapter: &Adapter, sizes: (usize, usize, usize), budget: Option<u64>) -> Result<bool> {
    let Some(budget) = budget else { return Ok(false) };
    let cfg = FluxConfig::load(fw, models.transformer_config.as_deref())?;
    let lt = sizes.0 / cfg.context_dim.max(1);
    let tokens = (lt, sizes.1, sizes.2);
    let w = PlanWeights { blocks: fw.block_format(), resident: fw.block_format(), lora: Some((12, adapter.rank(), x2edit_kernels::WeightFormat::F32)) };
    let act = gpu.act().bytes() as u64;
    let chunk = 4096;
    if plan(&cfg, w, tokens, act, chunk, false).total <= budget {
        return Ok(false);
    }
    let need = plan(&cfg, w, tokens, act, chunk, true).total;
    if need > budget {
        return Err(Error::invalid(
            "--memory-budget",
            format!("{:.0} MiB is below the {:.0} MiB a denoising step needs even with streamed blocks", budget as f64 / 1048576.0, need as f64 / 1048576.0),
        ));
    }
    Ok(true)
}

/// RGB result with the (resized) source's alpha channel.
fn with_alpha(rgb: &Image, src: &Image) -> Image {
    let a = if src.width == rgb.width && src.height == rgb.height { src.clone() } else { src.resize(rgb.width, rgb.height) };
    let data = (0..rgb.width * rgb.height).flat_map(|i| [rgb.data[3 * i], rgb.data[3 * i + 1], rgb.data[3 * i + 2], a.data[4 * i + 3]]).collect();
    Image { width: rgb.width, height: rgb.height, channels: 4, data }
}
