//! `stage vae-encode` / `stage vae-decode`.

use super::{Io, ModelArgs};
use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct VaeArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long, value_parser = ["f32", "f16"])]
    pub precision: Option<String>,
}

pub fn run(_a: &VaeArgs, _encode: bool) -> Result<(), String> {
    Err("stage vae: under construction".into())
}
