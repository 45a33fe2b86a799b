//! `x2edit edit`: one instruction-based edit of an image file, with a progress bar and a
//! summary. With no model flags it uses the embedded demo model and says so. A failed edit
//! leaves no output file (the image is written to a temporary name and renamed).

use crate::stage::ModelArgs;
use crate::tensors::{write_atomic, Inputs};
use crate::GpuArgs;
use clap::Args;
use image::{DynamicImage, ImageDecoder, ImageReader};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use x2edit_runtime::edit::{demo, edit, EditRequest, Image, ModelPaths, ModelSet, Progress, SizeMode, Stage};
use x2edit_runtime::ops::MoeMode;
use x2edit_runtime::text::{PromptFormat, TaskChoice};

#[derive(Args, Clone, Debug)]
pub struct EditArgs {
    #[arg(long)]
    pub image: PathBuf,
    #[arg(long)]
    pub prompt: String,
    /// Output file; the format follows the extension (.png, .jpg/.jpeg).
    #[arg(long)]
    pub out: PathBuf,
    /// auto (the text encoder classifies the instruction), an id 0-15, or a task name or label.
    #[arg(long, default_value = "auto")]
    pub task: String,
    /// Denoising steps (default 28 for bases with guidance_in, 4 without).
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long, default_value_t = 3.5)]
    pub guidance: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// 512, 1024 or source (default: the model's native size).
    #[arg(long, value_parser = ["512", "1024", "source"])]
    pub size: Option<String>,
    #[arg(long, value_parser = ["x2edit", "raw"], default_value = "x2edit")]
    pub prompt_format: String,
    /// safetensors file holding `noise` [1, N, 64], the packed initial latent.
    #[arg(long)]
    pub noise: Option<PathBuf>,
    /// GPU memory the edit may hold (K/M/G suffixes): streams blocks and tiles the VAE.
    #[arg(long)]
    pub memory_budget: Option<String>,
    #[arg(long, value_parser = ["sparse", "dense"], default_value = "sparse")]
    pub moe: String,
    /// Sample the source's VAE posterior (seeded) instead of its mean.
    #[arg(long)]
    pub cond_sample: bool,
    #[command(flatten)]
    pub models: ModelArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// "512M", "2G", "1500000" -> bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("--memory-budget: '{s}' is not a size like 512M or 2G"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("--memory-budget: '{s}' must be positive"));
    }
    Ok((v * mul as f64) as u64)
}

#[derive(Clone, Copy, PartialEq)]
enum OutFormat {
    Png,
    Jpeg,
}

fn out_format(p: &Path) -> Result<OutFormat, String> {
    match p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("png") => Ok(OutFormat::Png),
        Some("jpg" | "jpeg") => Ok(OutFormat::Jpeg),
        _ => Err(format!("{}: the output extension must be .png, .jpg or .jpeg", p.display())),
    }
}

/// Decodes PNG/JPEG/WebP, applies the EXIF orientation, keeps alpha when present.
pub fn load_image(p: &Path) -> Result<Image, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
    let mut reader = ImageReader::open(p).map_err(|e| err(&e))?.with_guessed_format().map_err(|e| err(&e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(x2edit_runtime::edit::image::MAX_SIDE as u32);
    limits.max_image_height = Some(x2edit_runtime::edit::image::MAX_SIDE as u32);
    reader.limits(limits);
    let mut dec = reader.into_decoder().map_err(|e| err(&e))?;
    let orientation = dec.orientation().map_err(|e| err(&e))?;
    let mut img = DynamicImage::from_decoder(dec).map_err(|e| err(&e))?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let out = if img.color().has_alpha() { Image::new(w, h, 4, img.to_rgba8().into_raw()) } else { Image::new(w, h, 3, img.to_rgb8().into_raw()) };
    out.map_err(|e| err(&e))
}

fn encode(img: &Image, fmt: OutFormat) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let color = if img.channels == 4 { image::ExtendedColorType::Rgba8 } else { image::ExtendedColorType::Rgb8 };
    let e = |x: image::ImageError| x.to_string();
    match fmt {
        OutFormat::Png => image::codecs::png::PngEncoder::new(&mut bytes).write_image(&img.data, img.width as u32, img.height as u32, color).map_err(e)?,
        OutFormat::Jpeg => {
            let rgb = if img.channels == 4 { img.data.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect() } else { img.data.clone() };
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95).encode(&rgb, img.width as u32, img.height as u32, image::ExtendedColorType::Rgb8).map_err(e)?
        }
    }
    Ok(bytes)
}

use image::ImageEncoder;

fn models(m: &ModelArgs) -> Result<(ModelSet, String), String> {
    let any = m.transformer.is_some() || m.adapter.is_some() || m.text_encoder.is_some() || m.vae.is_some() || m.model_dir.is_some();
    if !any {
        return Ok((demo::demo_models().map_err(|e| e.to_string())?, demo::DESCRIPTION.to_string()));
    }
    let mut p = match &m.model_dir {
        Some(d) => ModelPaths::from_dir(d).map_err(|e| e.to_string())?,
        None => ModelPaths::default(),
    };
    let set = |dst: &mut PathBuf, flag: &Option<PathBuf>, name: &str| -> Result<(), String> {
        if let Some(f) = flag {
            *dst = f.clone();
        }
        if dst.as_os_str().is_empty() {
            return Err(format!("--{name} (or --model-dir) is required when any model flag is given"));
        }
        if !dst.exists() {
            return Err(format!("{}: no such file or folder (--{name})", dst.display()));
        }
        Ok(())
    };
    set(&mut p.transformer, &m.transformer, "transformer")?;
    set(&mut p.adapter, &m.adapter, "adapter")?;
    set(&mut p.text_encoder, &m.text_encoder, "text-encoder")?;
    set(&mut p.vae, &m.vae, "vae")?;
    p.transformer_config = m.transformer_config.clone();
    p.vae_config = m.vae_config.clone();
    let label = format!("{}", p.transformer.display());
    Ok((ModelSet::open(&p).map_err(|e| e.to_string())?, label))
}

pub fn run(a: &EditArgs) -> Result<(), String> {
    let fmt = out_format(&a.out)?;
    let budget = a.memory_budget.as_deref().map(parse_size).transpose()?;
    let task: TaskChoice = a.task.parse().map_err(|e: x2edit_runtime::Error| e.to_string())?;
    let src = load_image(&a.image)?;
    let noise = match &a.noise {
        Some(p) => Some(Inputs::open(p)?.f32("noise", &[Some(1), None, Some(64)])?.data),
        None => None,
    };
    let (models, label) = models(&a.models)?;
    let gpu = a.gpu.open().map_err(|e| e.to_string())?;
    eprintln!("x2edit: {} on {} ({:?})", label, gpu.adapter().name, gpu.precision());
    let req = EditRequest {
        task,
        prompt_format: if a.prompt_format == "raw" { PromptFormat::Raw } else { PromptFormat::X2Edit },
        steps: a.steps,
        guidance: a.guidance,
        seed: a.seed,
        size: a.size.as_deref().map(|s| match s {
            "512" => SizeMode::Px512,
            "1024" => SizeMode::Px1024,
            _ => SizeMode::Source,
        }),
        noise: noise.as_deref(),
        cond_sample: a.cond_sample,
        memory_budget: budget,
        moe: if a.moe == "dense" { MoeMode::Dense } else { MoeMode::Sparse },
        ..EditRequest::new(&src, &a.prompt)
    };
    let bar = ProgressBar::new(1);
    bar.set_style(ProgressStyle::with_template("{spinner} {msg:<12} [{bar:30}] {pos}/{len} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let mut on_progress = |p: &Progress| {
        match p.stage {
            Stage::Denoise => {
                bar.set_length(p.steps as u64);
                bar.set_position(p.step as u64);
            }
            _ => bar.tick(),
        }
        bar.set_message(format!("{:?}", p.stage));
    };
    let out = edit(&gpu, &models, &req, &mut on_progress, &AtomicBool::new(false)).map_err(|e| e.to_string());
    bar.finish_and_clear();
    let out = out?;
    write_atomic(&a.out, &encode(&out.image, fmt)?)?;
    let stages: Vec<String> = out.timings.iter().map(|(s, t)| format!("{s:?} {t:.2} s")).collect();
    eprintln!(
        "x2edit: wrote {} ({}x{}), task {} ({}), {} steps; {}; peak GPU memory {:.1} MiB",
        a.out.display(),
        out.image.width,
        out.image.height,
        out.task.id(),
        out.task.name(),
        out.steps,
        stages.join(", "),
        out.peak_memory as f64 / (1 << 20) as f64
    );
    Ok(())
}
