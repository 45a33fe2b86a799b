//! `stage dit` (one velocity) and `stage sample` (the Euler loop from noise over sigmas).

use super::{Io, ModelArgs};
use crate::tensors::{Inputs, Outputs};
use crate::GpuArgs;
use clap::Args;
use x2edit_runtime::model::flux::{EditInputs, FluxModel, FluxOptions};
use x2edit_runtime::ops::{self, MoeMode};

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

pub fn run(a: &DitArgs, sample: bool) -> Result<(), String> {
    let inp = Inputs::open(&a.io.inputs)?;
    let gpu = GpuArgs { precision: a.precision.clone(), adapter: None }.open().map_err(|e| e.to_string())?;
    let opts = FluxOptions { stream: a.stream, moe: if a.moe == "dense" { MoeMode::Dense } else { MoeMode::Sparse }, chunk: 0 };
    let adapter = a.models.adapter.clone().or_else(|| a.models.adapter_path().ok());
    let model = FluxModel::load(&gpu, &a.models.transformer_path()?, a.models.transformer_config.as_deref(), adapter.as_deref(), opts).map_err(|e| e.to_string())?;
    let c = &model.cfg;
    let cond = inp.f32("cond", &[Some(1), None, Some(c.in_channels)])?;
    let n = cond.shape[1];
    let txt = inp.f32("txt", &[Some(1), None, Some(c.context_dim)])?;
    let l = txt.shape[1];
    let pooled = inp.f32("pooled", &[Some(1), Some(c.vec_dim)])?;
    let guidance = inp.f32("guidance", &[Some(1)])?;
    let img_ids = inp.f32("img_ids", &[Some(n), Some(3)])?;
    let cond_ids = inp.f32("cond_ids", &[Some(n), Some(3)])?;
    let txt_ids = inp.f32("txt_ids", &[Some(l), Some(3)])?;
    let task = inp.i64("task_id", &[Some(1)])?.data[0];
    let task = usize::try_from(task).map_err(|_| format!("task_id {task} is negative"))?;
    let e = |x: x2edit_runtime::Error| x.to_string();
    let mut edit = model
        .begin(
            &gpu,
            &EditInputs {
                txt: &txt.data,
                pooled: &pooled.data,
                cond: &cond.data,
                txt_ids: &txt_ids.data,
                img_ids: &img_ids.data,
                cond_ids: &cond_ids.data,
                guidance: guidance.data[0],
                task: model.adapter().map(|_| task),
            },
        )
        .map_err(e)?;
    let mut out = Outputs::default();
    if sample {
        let noise = inp.f32("noise", &[Some(1), Some(n), Some(c.in_channels)])?;
        let sigmas = inp.f32("sigmas", &[None])?.data;
        if sigmas.len() < 2 {
            return Err("sigmas needs at least 2 values (the terminal 0 included)".into());
        }
        let x = gpu.upload_f32(&noise.data, &[n, c.in_channels]).map_err(e)?;
        for w in sigmas.windows(2) {
            let v = model.velocity(&gpu, &mut edit, &x, w[0]).map_err(e)?;
            ops::euler_step(&gpu, &x, &v, w[0], w[1]).map_err(e)?;
        }
        out.f32("latent", &[1, n, c.in_channels], &gpu.read_f32(&x).map_err(e)?);
    } else {
        let img = inp.f32("img", &[Some(1), Some(n), Some(c.in_channels)])?;
        let t = inp.f32("timestep", &[Some(1)])?.data[0];
        let x = gpu.upload_f32(&img.data, &[n, c.in_channels]).map_err(e)?;
        let v = model.velocity(&gpu, &mut edit, &x, t).map_err(e)?;
        out.f32("velocity", &[1, n, c.out_channels], &gpu.read_f32(&v).map_err(e)?);
    }
    out.write(&a.io.out)
}
