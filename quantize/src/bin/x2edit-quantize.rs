//! `x2edit-quantize convert|inspect`: see quantize/README.md.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use x2edit_quantize::convert::{self, Options, Report, TypeRule};
use x2edit_quantize::{Checkpoint, FileKind, GgmlType};

#[derive(Parser)]
#[command(name = "x2edit-quantize", version, about = "Convert FLUX / X2Edit / Qwen2.5-VL checkpoints to GGUF, and inspect checkpoint files")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Convert a file or folder (safetensors, diffusers folder, PyTorch .bin, GGUF) into our GGUF layout.
    Convert {
        /// q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|f16|bf16|f32 (default: keep each tensor's source type)
        #[arg(long = "type", value_name = "TYPE")]
        ty: Option<GgmlType>,
        /// REGEX=TYPE, matched unanchored against output tensor names; repeatable, first match wins.
        #[arg(long = "rule", value_name = "REGEX=TYPE")]
        rules: Vec<TypeRule>,
        /// A diffusers/HF config.json for a single file whose sizes cannot be inferred.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print only the summary, not the per-tensor table.
        #[arg(long)]
        quiet: bool,
        input: PathBuf,
        output: PathBuf,
    },
    /// List and validate a GGUF, safetensors or PyTorch .bin file (or a folder of them).
    Inspect {
        file: PathBuf,
    },
}

fn human(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

fn print_report(r: &Report, quiet: bool) {
    if !quiet {
        let w = r.tensors.iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
        println!("{:w$}  {:5}  {:>22}  {:>10}  {:>10}  {:>10}  note", "name", "type", "shape", "size", "rms err", "max err");
        for t in &r.tensors {
            let shape = format!("{:?}", t.shape);
            println!("{:w$}  {:5}  {:>22}  {:>10}  {:>10.3e}  {:>10.3e}  {}", t.name, t.ty.name(), shape, human(t.bytes), t.rms_err, t.max_err, t.note.as_deref().unwrap_or(""));
        }
    }
    let mut by_type: Vec<(GgmlType, usize, u64)> = Vec::new();
    for t in &r.tensors {
        match by_type.iter_mut().find(|x| x.0 == t.ty) {
            Some(x) => {
                x.1 += 1;
                x.2 += t.bytes
            }
            None => by_type.push((t.ty, 1, t.bytes)),
        }
    }
    let types: Vec<String> = by_type.iter().map(|(t, n, b)| format!("{t}: {n} tensors, {}", human(*b))).collect();
    println!(
        "summary: arch {}, {} tensors, {} parameters, {} of tensor data ({} bytes), {:.3} bits per weight; {}",
        r.arch.name(),
        r.tensors.len(),
        r.params(),
        human(r.bytes()),
        r.bytes(),
        r.bits_per_weight(),
        types.join("; ")
    );
    for n in &r.notes {
        println!("note: {n}");
    }
}

fn run_convert(ty: Option<GgmlType>, rules: Vec<TypeRule>, config: Option<PathBuf>, quiet: bool, input: PathBuf, output: PathBuf) -> Result<(), String> {
    let opts = Options { target: ty, rules, config };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed_precise} eta {eta}").map_err(|e| e.to_string())?);
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = convert::convert(&input, &output, &opts, &mut progress).map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    print_report(&report, quiet);
    println!("wrote {}", output.display());
    Ok(())
}

fn run_inspect(file: PathBuf) -> Result<(), String> {
    let ck = Checkpoint::open(&file).map_err(|e| e.to_string())?;
    for f in ck.files() {
        let kind = match f.kind {
            FileKind::Gguf => "GGUF",
            FileKind::Safetensors => "safetensors",
            FileKind::TorchZip => "PyTorch zip (pickle parsed under the allow-list)",
        };
        match f.gguf {
            Some((align, data)) => println!("file {}: {kind}, alignment {align}, data at offset {data}", f.path.display()),
            None => println!("file {}: {kind}", f.path.display()),
        }
    }
    let md = ck.metadata();
    if !md.is_empty() {
        println!("metadata ({} keys):", md.len());
        for (k, v) in md.iter() {
            println!("  {k} = {}", v.display_short());
        }
    }
    if let Some(c) = &md.config {
        let keys: Vec<&String> = c.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        println!("config.json: {} keys", keys.len());
    }
    let w = ck.tensors().iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    println!("tensors ({}):", ck.tensors().len());
    for t in ck.tensors() {
        let bytes = t.n_bytes().map_err(|e| e.to_string())?;
        println!("  {:w$}  {:5}  {:>22}  {:>10}", t.name, t.ty.name(), format!("{:?}", t.shape), human(bytes as u64));
    }
    let total = ck.validate().map_err(|e| e.to_string())?;
    let params: u64 = ck.tensors().iter().map(|t| t.n_elems() as u64).sum();
    println!("ok: {} tensors, {params} parameters, {} of tensor data, every extent checked", ck.tensors().len(), human(total));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Convert { ty, rules, config, quiet, input, output } => run_convert(ty, rules, config, quiet, input, output),
        Cmd::Inspect { file } => run_inspect(file),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
