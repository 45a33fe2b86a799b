//! `x2edit bench vae` (in progress).

use crate::GpuArgs;

#[derive(clap::Args)]
pub struct VaeBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
}

pub fn run(_b: &VaeBench) -> Result<(), String> {
    Err("bench vae: under construction".into())
}
