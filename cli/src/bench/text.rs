//! `x2edit bench text` (in progress).

use crate::GpuArgs;

#[derive(clap::Args)]
pub struct TextBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
}

pub fn run(_b: &TextBench) -> Result<(), String> {
    Err("bench text: under construction".into())
}
