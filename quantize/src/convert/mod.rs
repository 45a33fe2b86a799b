//! `convert`: any supported checkpoint in, our GGUF layout out, streamed one tensor (and one chunk of
//! rows) at a time. `plan` decides names, types and metadata without touching tensor data; `write`
//! streams; `convert` does both into OUTPUT (via a temporary file, so a failed run leaves nothing).

pub mod meta;
pub mod rules;
pub mod tokenizer;

use crate::checkpoint::{Checkpoint, FileKind};
use crate::codec;
use crate::error::{FormatError, Result};
use crate::gguf::writer::GgufWriter;
use crate::metadata::{Metadata, Value};
use crate::names::{self, read_planned, Planned};
use crate::types::{GgmlType, TensorInfo};
pub use rules::TypeRule;
use std::path::{Path, PathBuf};

/// Elements per streamed chunk (4 MiB of f32): the converter's working set besides the page cache.
const CHUNK_ELEMS: usize = 1 << 20;
/// ggml's GGML_QNT_VERSION.
pub const QUANTIZATION_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arch {
    /// FLUX transformer, BFL names, `flux.*` config.
    Flux,
    /// FLUX VAE, BFL `ae` names, `flux_vae.*` config.
    FluxVae,
    /// X2Edit MoE-LoRA + task embedding + AlignNet, `x2edit.*` config.
    X2Edit,
    /// Qwen2.5-VL language model, llama.cpp `qwen2vl` names and keys.
    Qwen2Vl,
    /// A GGUF of another architecture: names and metadata carried over, tensors re-typed.
    Other(String),
}

impl Arch {
    pub fn name(&self) -> &str {
        match self {
            Arch::Flux => "flux",
            Arch::FluxVae => "flux_vae",
            Arch::X2Edit => "x2edit",
            Arch::Qwen2Vl => "qwen2vl",
            Arch::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--type`; None keeps each tensor's source type.
    pub target: Option<GgmlType>,
    /// `--rule`, first match wins.
    pub rules: Vec<TypeRule>,
    /// `--config`: a diffusers/HF config.json (or an X2Edit settings JSON) for what shapes cannot tell.
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct PlannedTensor {
    pub planned: Planned,
    pub ty: GgmlType,
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub arch: Arch,
    pub metadata: Metadata,
    pub tensors: Vec<PlannedTensor>,
    /// Things the user should know (tensors dropped, defaults assumed).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TensorReport {
    pub name: String,
    pub ty: GgmlType,
    pub shape: Vec<usize>,
    pub bytes: u64,
    /// Round-trip error against the f32 source (0 for byte copies).
    pub rms_err: f32,
    pub max_err: f32,
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub arch: Arch,
    pub tensors: Vec<TensorReport>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes).sum()
    }
    pub fn params(&self) -> u64 {
        self.tensors.iter().map(|t| t.shape.iter().product::<usize>() as u64).sum()
    }
    pub fn bits_per_weight(&self) -> f64 {
        8.0 * self.bytes() as f64 / self.params().max(1) as f64
    }
}

fn is_flux_name(n: &str) -> bool {
    ["double_blocks.", "single_blocks.", "img_in.", "txt_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."].iter().any(|p| n.starts_with(p))
}

/// Names, types and metadata for converting `ck` (opened from `input`).
pub fn plan(ck: &Checkpoint, input: &Path, opts: &Options) -> Result<Plan> {
    let tensors = ck.tensors();
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let file_cfg = match &opts.config {
        Some(p) => Some(crate::checkpoint::read_json(p)?),
        None => None,
    };
    let cfg = file_cfg.as_ref().or(ck.metadata().config.as_ref());
    let gguf_arch = ck.metadata().get_str("general.architecture").map(String::from);
    let mut md = Metadata::new();
    let mut notes = Vec::new();
    let (arch, planned, format) = if let Some(a) = gguf_arch.filter(|a| a != "flux" || !names::flux::is_diffusers(&names)) {
        // One of ours or llama.cpp's: keep names and metadata, re-type the tensors.
        for (k, v) in ck.metadata().iter() {
            if !matches!(k, "general.file_type" | "general.quantization_version" | "general.alignment") && !k.starts_with("general.source") {
                md.set(k, v.clone());
            }
        }
        let arch = match a.as_str() {
            "flux" => Arch::Flux,
            "flux_vae" => Arch::FluxVae,
            "x2edit" => Arch::X2Edit,
            "qwen2vl" => Arch::Qwen2Vl,
            _ => Arch::Other(a.clone()),
        };
        // A FLUX GGUF may carry sd.cpp's `model.diffusion_model.` prefix: our layout has bare names.
        let rename = |n: &str| if arch == Arch::Flux { names::flux::strip_prefix(n).to_string() } else { n.to_string() };
        let planned: Vec<Planned> = tensors.iter().map(|t| Planned::direct(rename(&t.name), t)).collect();
        (arch, planned, "gguf")
    } else if names::flux::is_diffusers(&names) {
        let m = names::flux::from_diffusers(tensors)?;
        if !m.unmapped.is_empty() {
            return Err(FormatError::Invalid { what: "diffusers FLUX transformer".into(), detail: format!("{} tensors have no BFL name, e.g. `{}`", m.unmapped.len(), m.unmapped[0]) });
        }
        (Arch::Flux, m.planned, "diffusers")
    } else if names::flux::is_bfl(&names) {
        let m = names::flux::from_bfl(tensors);
        let (keep, drop): (Vec<Planned>, Vec<Planned>) = m.planned.into_iter().partition(|p| is_flux_name(&p.name));
        if !drop.is_empty() {
            notes.push(format!("{} tensors that are not part of the FLUX transformer were left out (e.g. `{}`)", drop.len(), drop[0].parts[0].src));
        }
        (Arch::Flux, keep, "bfl")
    } else if names::vae::is_diffusers(&names) {
        let m = names::vae::from_diffusers(tensors)?;
        if !m.unmapped.is_empty() {
            return Err(FormatError::Invalid { what: "diffusers VAE".into(), detail: format!("{} tensors have no BFL name, e.g. `{}`", m.unmapped.len(), m.unmapped[0]) });
        }
        (Arch::FluxVae, m.planned, "diffusers")
    } else if names::vae::is_bfl(&names) {
        let planned = tensors.iter().map(|t| Planned::direct(t.name.clone(), t)).collect();
        (Arch::FluxVae, planned, "bfl")
    } else if names::x2edit::is_adapter(&names) {
        let mut planned = Vec::new();
        for t in tensors {
            match names::x2edit::map_name(&t.name, ck.file_of(&t.name)) {
                Some(n) => planned.push(Planned::direct(n, t)),
                None => notes.push(format!("`{}` is not part of the X2Edit adapter: left out", t.name)),
            }
        }
        (Arch::X2Edit, planned, "x2edit-release")
    } else if names::qwen::is_hf(&names) {
        let mut planned = Vec::new();
        let mut vision = 0;
        for t in tensors {
            match names::qwen::hf_to_gguf(&t.name) {
                Some(n) => planned.push(Planned::direct(n, t)),
                None if names::qwen::is_vision(&t.name) => vision += 1,
                None => notes.push(format!("`{}` has no llama.cpp name: left out", t.name)),
            }
        }
        if vision > 0 {
            notes.push(format!("{vision} vision-tower tensors left out (the edit path feeds text only)"));
        }
        (Arch::Qwen2Vl, planned, "hf")
    } else {
        let sample: Vec<&str> = names.iter().take(3).copied().collect();
        return Err(FormatError::Unsupported { file: ck.label().into(), detail: format!("cannot tell which model this is (tensors {sample:?}...): expected a FLUX transformer, FLUX VAE, X2Edit adapter or Qwen2.5-VL") });
    };

    let shapes: Vec<(String, Vec<usize>)> = planned.iter().map(|p| (p.name.clone(), p.shape.clone())).collect();
    md.set("general.architecture", Value::String(arch.name().into()));
    if format != "gguf" {
        match arch {
            Arch::Flux => {
                let sched_path = input.parent().map(|p| p.join("scheduler/scheduler_config.json"));
                let sched = match sched_path.filter(|p| input.is_dir() && p.is_file()) {
                    Some(p) => Some(crate::checkpoint::read_json(&p)?),
                    None => None,
                };
                meta::flux(&mut md, &shapes, cfg, sched.as_ref())?;
            }
            Arch::FluxVae => meta::vae(&mut md, &shapes, cfg)?,
            Arch::X2Edit => meta::adapter(&mut md, &shapes, cfg)?,
            Arch::Qwen2Vl => {
                let vocab = meta::qwen(&mut md, cfg)?;
                let dir = if input.is_dir() { Some(input) } else { input.parent() };
                if !dir.map(|d| tokenizer::add_tokenizer(d, vocab, &mut md)).transpose()?.unwrap_or(false) {
                    notes.push("no tokenizer.json beside the weights: tokenizer KVs not written".into());
                }
            }
            Arch::Other(_) => {}
        }
    }
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    if !md.contains("general.name") {
        md.set("general.name", Value::String(stem.into()));
    }
    md.set("general.source.file", Value::String(input.file_name().and_then(|s| s.to_str()).unwrap_or("").into()));
    md.set("general.source.format", Value::String(format.into()));

    let mut out = Vec::with_capacity(planned.len());
    let mut seen = std::collections::HashSet::new();
    for p in planned {
        if !seen.insert(p.name.clone()) {
            return Err(FormatError::DuplicateTensor { file: "output".into(), tensor: p.name });
        }
        let src_ty = source_type(ck, &p)?;
        let (ty, note) = if src_ty.is_target() || src_ty.is_quantized() {
            rules::choose(&arch, &p.name, &p.shape, src_ty, opts.target, &opts.rules)
        } else {
            // Integer tensors are copied as they are.
            (src_ty, None)
        };
        out.push(PlannedTensor { planned: p, ty, note });
    }
    let main_ty = opts.target.unwrap_or_else(|| dominant_type(&out));
    md.set("general.quantization_version", Value::U32(QUANTIZATION_VERSION));
    md.set("general.file_type", Value::U32(main_ty.file_type()));
    Ok(Plan { arch, metadata: md, tensors: out, notes })
}

/// The stored type shared by all parts (mixed types read as f32).
fn source_type(ck: &Checkpoint, p: &Planned) -> Result<GgmlType> {
    let mut ty = None;
    for s in &p.parts {
        let t = ck.get(&s.src).ok_or_else(|| FormatError::MissingTensor { file: ck.label().into(), tensor: s.src.clone() })?.ty;
        ty = match ty {
            None => Some(t),
            Some(x) if x == t => Some(x),
            Some(_) => Some(GgmlType::F32),
        };
    }
    Ok(ty.unwrap_or(GgmlType::F32))
}

/// The type holding most parameters.
fn dominant_type(t: &[PlannedTensor]) -> GgmlType {
    let mut counts: Vec<(GgmlType, usize)> = Vec::new();
    for x in t {
        let n = x.planned.n_elems();
        match counts.iter_mut().find(|c| c.0 == x.ty) {
            Some(c) => c.1 += n,
            None => counts.push((x.ty, n)),
        }
    }
    counts.into_iter().max_by_key(|c| c.1).map_or(GgmlType::F32, |c| c.0)
}

/// Whether the planned tensor can be written by copying stored bytes (same type, block-aligned parts).
fn raw_copy(ck: &Checkpoint, p: &PlannedTensor) -> bool {
    let be = p.ty.block_elems();
    p.planned.parts.iter().all(|s| ck.get(&s.src).is_some_and(|t| t.ty == p.ty && s.start % be == 0 && s.len % be == 0))
}

/// Streams the planned tensors' data into `out` as GGUF. `progress(done, total)` counts elements.
pub fn write<W: std::io::Write>(ck: &Checkpoint, plan: &Plan, out: W, label: &str, progress: &mut dyn FnMut(u64, u64)) -> Result<(Report, W)> {
    let infos: Vec<TensorInfo> = plan.tensors.iter().map(|t| TensorInfo { name: t.planned.name.clone(), ty: t.ty, shape: t.planned.shape.clone() }).collect();
    let total: u64 = infos.iter().map(|t| t.n_elems() as u64).sum();
    let mut w = GgufWriter::new(out, label, &plan.metadata, infos.clone())?;
    let mut done = 0u64;
    let mut reports = Vec::with_capacity(infos.len());
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut qb = Vec::new();
    for (t, info) in plan.tensors.iter().zip(&infos) {
        let n = info.n_elems();
        let (mut sq, mut max) = (0f64, 0f32);
        if raw_copy(ck, t) {
            let be = t.ty.block_elems();
            for s in &t.planned.parts {
                let data = ck.data(&s.src)?;
                let (b0, b1) = (s.start / be * t.ty.block_bytes(), (s.start + s.len) / be * t.ty.block_bytes());
                for (i, c) in data[b0..b1].chunks(CHUNK_ELEMS * 4).enumerate() {
                    w.write_data(c)?;
                    let e0 = s.start + i * CHUNK_ELEMS * 4 / t.ty.block_bytes() * be;
                    ck.release_elems(&s.src, e0, c.len() / t.ty.block_bytes() * be);
                }
            }
            done += n as u64;
            progress(done, total);
        } else {
            let row = info.row_len().max(1);
            let chunk = (CHUNK_ELEMS / row).max(1) * row;
            let mut start = 0;
            while start < n {
                let len = chunk.min(n - start);
                xs.resize(len, 0.0);
                ys.resize(len, 0.0);
                read_planned(ck, &t.planned, start, &mut xs)?;
                names::release_planned(ck, &t.planned, start, len);
                let nb = t.ty.row_bytes(len)?;
                qb.resize(nb, 0);
                quantize_parallel(t.ty, row, &xs, &mut qb, &mut ys)?;
                w.write_data(&qb)?;
                for (a, b) in xs.iter().zip(&ys) {
                    let e = (a - b).abs();
                    // NaN source values count as errors only if the round trip changed them.
                    if e.is_finite() {
                        sq += (e as f64) * (e as f64);
                        max = max.max(e);
                    }
                }
                start += len;
                done += len as u64;
                progress(done, total);
            }
        }
        for s in &t.planned.parts {
            ck.release(&s.src);
        }
        reports.push(TensorReport { name: info.name.clone(), ty: t.ty, shape: info.shape.clone(), bytes: info.n_bytes()? as u64, rms_err: (sq / n.max(1) as f64).sqrt() as f32, max_err: max, note: t.note.clone() });
    }
    let out = w.finish()?;
    Ok((Report { arch: plan.arch.clone(), tensors: reports, notes: plan.notes.clone() }, out))
}

/// Quantizes `xs` into `qb` and dequantizes it back into `ys`, split by whole rows over the CPU's
/// threads (K-quant quantization is the slow part of a conversion).
fn quantize_parallel(ty: GgmlType, row: usize, xs: &[f32], qb: &mut [u8], ys: &mut [f32]) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    let rows = xs.len() / row;
    let per_rows = rows.div_ceil(threads).max(1);
    if threads == 1 || rows < 2 {
        codec::quantize_row(ty, xs, qb)?;
        return codec::dequantize_row(ty, qb, ys);
    }
    let per = per_rows * row;
    let per_bytes = ty.row_bytes(row)? * per_rows;
    std::thread::scope(|sc| {
        let jobs: Vec<_> = xs
            .chunks(per)
            .zip(qb.chunks_mut(per_bytes))
            .zip(ys.chunks_mut(per))
            .map(|((x, q), y)| sc.spawn(move || codec::quantize_row(ty, x, q).and_then(|_| codec::dequantize_row(ty, q, y))))
            .collect();
        jobs.into_iter().try_for_each(|j| j.join().unwrap_or_else(|_| Err(FormatError::Invalid { what: "quantize".into(), detail: "worker thread panicked".into() })))
    })
}

/// Opens INPUT, plans, and writes OUTPUT (through `OUTPUT.partial`, renamed when complete).
pub fn convert(input: &Path, output: &Path, opts: &Options, progress: &mut dyn FnMut(u64, u64)) -> Result<Report> {
    let ck = Checkpoint::open(input)?;
    let plan = plan(&ck, input, opts)?;
    let tmp = output.with_extension("gguf.partial");
    let file = std::fs::File::create(&tmp).map_err(|e| FormatError::io(&tmp, e))?;
    let label = output.display().to_string();
    let result = write(&ck, &plan, std::io::BufWriter::with_capacity(1 << 20, file), &label, progress);
    match result {
        Ok((report, buf)) => {
            let f = buf.into_inner().map_err(|e| FormatError::io(&tmp, e.into_error()))?;
            f.sync_all().map_err(|e| FormatError::io(&tmp, e))?;
            std::fs::rename(&tmp, output).map_err(|e| FormatError::io(output, e))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Which kinds of file a checkpoint was read from (for messages).
pub fn kinds(ck: &Checkpoint) -> Vec<FileKind> {
    ck.files().iter().map(|f| f.kind).collect()
}
