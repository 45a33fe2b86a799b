//! `x2edit bench dit` (in progress).

use crate::GpuArgs;

#[derive(clap::Args)]
pub struct DitBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
}

pub fn run(_b: &DitBench) -> Result<(), String> {
    Err("bench dit: under construction".into())
}
