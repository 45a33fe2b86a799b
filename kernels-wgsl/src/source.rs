//! Assembles a kernel variant's WGSL: a generated prelude (f16 enable, the In/Out aliases,
//! the width constant) followed by the family file with `//#include NAME` lines expanded
//! (`//#include WEIGHT` picks the variant's weight decoder). Each include is expanded once.
//!
//! `//#unroll V COUNT` ... `//#end` repeats the lines between, replacing `{V}` with 0..COUNT
//! (COUNT: a number, `WIDTH/N`, or `CHUNK` = min(16, WIDTH/4)). Why: Mesa's lavapipe (Debian 12, our CI adapter) stops
//! every shader invocation after 65535 loop iterations in total, so inner loops over head
//! dims, 32-element blocks and register tiles are written out, and only loops over keys or
//! K blocks remain (a few thousand iterations at FLUX sizes).

use crate::registry::{Act, Kernel, Variant};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    InvalidVariant { kernel: Kernel, variant: Variant },
    MissingInclude { name: String },
    BadDirective { line: String },
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::InvalidVariant { kernel, variant } => {
                write!(f, "kernel {kernel:?} has no variant {variant:?}")
            }
            SourceError::MissingInclude { name } => write!(f, "WGSL include '{name}' does not exist"),
            SourceError::BadDirective { line } => write!(f, "bad preprocessor directive '{line}'"),
        }
    }
}

impl std::error::Error for SourceError {}

macro_rules! wgsl_files {
    ($($name:literal),* $(,)?) => {
        const FILES: &[(&str, &str)] = &[$(($name, include_str!(concat!("../wgsl/", $name, ".wgsl")))),*];
    };
}

wgsl_files!(
    "common",
    "wg_reduce",
    "matmul",
    "matmul_io",
    "matmul_sg",
    "gather",
    "attention",
    "attention_io",
    "attention_sg",
    "norm",
    "rope",
    "elementwise",
    "reduce",
    "moe",
    "conv",
    "conv_io",
    "conv_sg",
    "image",
    "sampler",
    "weights/f32",
    "weights/f16",
    "weights/bf16",
    "weights/q8_0",
    "weights/q4_0",
    "weights/q4_1",
    "weights/q5_0",
    "weights/q5_1",
    "weights/q4_k",
    "weights/q5_k",
    "weights/q6_k",
    "weights/kquant_scales",
);

fn file(name: &str) -> Result<&'static str, SourceError> {
    FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| SourceError::MissingInclude { name: name.to_string() })
}

fn to_out(act: Act) -> &'static str {
    match act {
        Act::F32 => "fn to_out(v: f32) -> Out { return v; }\n",
        // f32 -> f16 of an out-of-range value is indeterminate in WGSL: clamp first.
        Act::F16 => "fn to_out(v: f32) -> Out { return Out(clamp(v, -65504.0, 65504.0)); }\n",
    }
}

/// The complete WGSL module for one kernel variant.
pub fn source(kernel: Kernel, v: Variant) -> Result<String, SourceError> {
    if !kernel.accepts(&v) {
        return Err(SourceError::InvalidVariant { kernel, variant: v });
    }
    let mut out = String::new();
    if v.needs_f16() {
        out.push_str("enable f16;\n");
    }
    let _ = writeln!(out, "alias In = {};\nalias Out = {};", v.input.wgsl(), v.output.wgsl());
    out.push_str(to_out(v.output));
    if v.width > 0 {
        let _ = writeln!(out, "const WIDTH: u32 = {}u;\nconst CHUNK: u32 = {}u;", v.width, chunk(v.width));
    }
    let weight = v.weight.map(|w| format!("weights/{}", w.name()));
    let mut seen = Vec::new();
    let mut body = String::new();
    expand(kernel.family().file(), weight.as_deref(), &mut seen, &mut body)?;
    let lines: Vec<&str> = body.lines().collect();
    unroll(&lines, v.width, &mut out)?;
    Ok(out)
}

/// Vectors of a head-dim row handled per written-out step: 64 dims, or all of a narrower row.
fn chunk(width: u32) -> u32 {
    (width / 4).min(16)
}

fn count(expr: &str, width: u32) -> Result<u32, SourceError> {
    let bad = || SourceError::BadDirective { line: format!("//#unroll .. {expr}") };
    if expr == "CHUNK" {
        return Ok(chunk(width));
    }
    match expr.strip_prefix("WIDTH/") {
        Some(d) => d.parse::<u32>().ok().filter(|&d| d > 0 && width > 0).map(|d| width / d).ok_or_else(bad),
        None => expr.parse().map_err(|_| bad()),
    }
}

/// Expands `//#unroll` blocks (nesting allowed).
fn unroll(lines: &[&str], width: u32, out: &mut String) -> Result<(), SourceError> {
    let mut i = 0;
    while i < lines.len() {
        let Some(head) = lines[i].trim().strip_prefix("//#unroll ") else {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        };
        let mut parts = head.split_whitespace();
        let var = parts.next().unwrap_or("");
        let n = count(parts.next().unwrap_or(""), width)?;
        // find the matching //#end
        let (mut depth, mut j) = (1, i + 1);
        while j < lines.len() {
            let t = lines[j].trim();
            if t.starts_with("//#unroll ") {
                depth += 1;
            } else if t == "//#end" {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            j += 1;
        }
        let block = &lines[i + 1..j.min(lines.len())];
        let key = format!("{{{var}}}");
        for k in 0..n {
            let body: Vec<String> = block.iter().map(|l| l.replace(&key, &k.to_string())).collect();
            let refs: Vec<&str> = body.iter().map(|s| s.as_str()).collect();
            unroll(&refs, width, out)?;
        }
        i = j + 1;
    }
    Ok(())
}

fn expand(name: &str, weight: Option<&str>, seen: &mut Vec<String>, out: &mut String) -> Result<(), SourceError> {
    if seen.iter().any(|s| s == name) {
        return Ok(());
    }
    seen.push(name.to_string());
    for line in file(name)?.lines() {
        match line.trim().strip_prefix("//#include ") {
            Some("WEIGHT") => {
                let w = weight.ok_or_else(|| SourceError::MissingInclude { name: "WEIGHT".into() })?;
                expand(w, weight, seen, out)?;
            }
            Some(inc) => expand(inc.trim(), weight, seen, out)?,
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    Ok(())
}
