//! `stage text` (Qwen2.5-VL hidden states + AlignNet), `stage align` (AlignNet alone) and
//! `stage tokenize` (X2Edit's prompt to ids).

use super::{Io, ModelArgs};
use crate::tensors::{Inputs, Outputs};
use clap::Args;
use x2edit_runtime::model::alignnet::{self, AlignNet, Conv, Mlp3};
use x2edit_runtime::model::qwen::{Qwen2Model, Residency};
use x2edit_runtime::text::{self, Encoded, PromptFormat, Tokenizer};

#[derive(Args, Clone, Debug)]
pub struct TextArgs {
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub models: ModelArgs,
    #[arg(long, value_parser = ["f32", "f16"])]
    pub precision: Option<String>,
    /// Upload one decoder layer's weights at a time (bounded GPU memory).
    #[arg(long)]
    pub stream: bool,
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

fn e(x: x2edit_runtime::Error) -> String {
    x.to_string()
}

fn as_i64(v: &[u32]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

fn ids_input(inp: &Inputs, name: &str, len: Option<usize>) -> Result<Vec<u32>, String> {
    let t = inp.i64(name, &[Some(1), len])?;
    t.data.iter().map(|&v| u32::try_from(v).map_err(|_| format!("{name}: value {v} is not a token id / mask value"))).collect()
}

pub fn run_text(a: &TextArgs) -> Result<(), String> {
    let inp = Inputs::open(&a.io.inputs)?;
    let ids = ids_input(&inp, "input_ids", None)?;
    let mask = ids_input(&inp, "attention_mask", Some(ids.len()))?;
    let enc = Encoded { ids, mask };
    let gpu = super::gpu_args(&a.precision).open().map_err(e)?;
    let residency = if a.stream { Residency::Streaming } else { Residency::Resident };
    let qwen = Qwen2Model::open(&gpu, &a.models.text_encoder_path()?, residency).map_err(e)?;
    let aw = alignnet::open_weights(&a.models.adapter_path()?).map_err(e)?;
    let conv = Conv::load(&gpu, &aw).map_err(e)?;
    let c = qwen.config.clone();
    if conv.channels != c.num_hidden_layers + 1 {
        return Err(format!("AlignNet takes {} hidden states, the text encoder gives {}", conv.channels, c.num_hidden_layers + 1));
    }
    let hidden = text::encode_hidden(&qwen, &conv, &enc, true).map_err(e)?;
    // The encoder's weights go before AlignNet's head arrives.
    qwen.release();
    let mlp = Mlp3::load(&gpu, &aw).map_err(e)?;
    let (emb, pooled) = text::align_head(&gpu, &mlp, &hidden.conv).map_err(e)?;
    let l = enc.ids.len();
    let mut out = Outputs::default();
    out.f32("hidden_states", &[1, c.num_hidden_layers + 1, l, c.hidden_size], &hidden.states.unwrap_or_default());
    out.f32("prompt_embeds", &[1, l, emb.len() / l], &emb);
    out.f32("pooled", &[1, pooled.len()], &pooled);
    out.write(&a.io.out)
}

pub fn run_align(a: &AlignArgs) -> Result<(), String> {
    let inp = Inputs::open(&a.io.inputs)?;
    let gpu = super::gpu_args(&a.precision).open().map_err(e)?;
    let net = AlignNet::load(&gpu, &alignnet::open_weights(&a.models.adapter_path()?).map_err(e)?).map_err(e)?;
    let hs = inp.f32("hidden_states", &[Some(1), Some(net.conv.channels), None, Some(net.mlp.input_dim())])?;
    let l = hs.shape[2];
    let o = net.forward_host(&gpu, &hs.data, l, hs.shape[3]).map_err(e)?;
    let emb = gpu.read_f32(&o.prompt_embeds).map_err(e)?;
    let pooled = gpu.read_f32(&o.pooled).map_err(e)?;
    let mut out = Outputs::default();
    out.f32("prompt_embeds", &[1, l, emb.len() / l], &emb);
    out.f32("pooled", &[1, pooled.len()], &pooled);
    out.write(&a.io.out)
}

pub fn run_tokenize(a: &TokenizeArgs) -> Result<(), String> {
    let tok = Tokenizer::open(&a.models.text_encoder_path()?).map_err(e)?;
    let format: PromptFormat = a.prompt_format.parse().map_err(e)?;
    let enc = text::encode_instruction(&tok, &a.prompt, format).map_err(e)?;
    let mut out = Outputs::default();
    out.i64("input_ids", &[1, enc.ids.len()], &as_i64(&enc.ids));
    out.i64("attention_mask", &[1, enc.mask.len()], &as_i64(&enc.mask));
    out.write(&a.out)
}
