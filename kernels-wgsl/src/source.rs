//! Assembles a kernel variant's WGSL: a generated prelude (f16 enable, the In/Out aliases,
//! the width constant) followed by the family file with `//#include NAME` lines expanded
//! (`//#include WEIGHT` picks the variant's weight decoder). Each include is expanded once.

use crate::registry::{Act, Kernel, Variant};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    InvalidVariant { kernel: Kernel, variant: Variant },
    MissingInclude { name: String },
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::InvalidVariant { kernel, variant } => {
                write!(f, "kernel {kernel:?} has no variant {variant:?}")
            }
            SourceError::MissingInclude { name } => write!(f, "WGSL include '{name}' does not exist"),
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
    "matmul",
    "gather",
    "attention",
    "norm",
    "rope",
    "elementwise",
    "reduce",
    "moe",
    "conv",
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
        let _ = writeln!(out, "const WIDTH: u32 = {}u;", v.width);
    }
    let weight = v.weight.map(|w| format!("weights/{}", w.name()));
    let mut seen = Vec::new();
    expand(kernel.family().file(), weight.as_deref(), &mut seen, &mut out)?;
    Ok(out)
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
