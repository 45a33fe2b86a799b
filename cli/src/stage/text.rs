//! `stage text`, `stage align`, `stage tokenize`.

use super::{Io, ModelArgs};
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct TextArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long, value_parser = ["f32", "f16"])]
    pub precision: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct AlignArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long, value_parser = ["f32", "f16"])]
    pub precision: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct TokenizeArgs {
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long)]
    pub prompt: String,
    #[arg(long, value_parser = ["x2edit", "raw"], default_value = "x2edit")]
    pub prompt_format: String,
    #[arg(long)]
    pub out: std::path::PathBuf,
}

pub fn run_text(_a: &TextArgs) -> Result<(), String> {
    Err("stage text: under construction".into())
}

pub fn run_align(_a: &AlignArgs) -> Result<(), String> {
    Err("stage align: under construction".into())
}

pub fn run_tokenize(_a: &TokenizeArgs) -> Result<(), String> {
    Err("stage tokenize: under construction".into())
}
