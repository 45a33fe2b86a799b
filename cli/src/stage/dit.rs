//! `stage dit` / `stage sample`.

use super::{Io, ModelArgs};
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct DitArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long, value_parser = ["f32", "f16"])]
    pub precision: Option<String>,
    /// sparse (per-expert dispatch) or dense (every expert on every token, for comparison).
    #[arg(long, value_parser = ["sparse", "dense"], default_value = "sparse")]
    pub moe: String,
    /// Keep only the current block's weights on the GPU.
    #[arg(long)]
    pub stream: bool,
}

pub fn run(_a: &DitArgs, _sample: bool) -> Result<(), String> {
    Err("stage dit: under construction".into())
}
