//! AlignNet against the reference (tests/fixtures/align): the conv accumulated one hidden
//! state at a time, LayerNorm, the projector (prompt_embeds) and the pooled head; from the
//! release folder and from our adapter GGUF (`alignnet.` names). Also our own qwen2vl GGUF
//! (converted here with x2edit-quantize, Q8_0) through the whole text path.

mod common;
mod text_fixtures;
use common::{gpu, Path};
use text_fixtures::*;
use x2edit_runtime::model::alignnet::{self, AlignNet};
use x2edit_runtime::model::qwen::{Qwen2Model, Residency};
use x2edit_runtime::text::{self, Encoded, Tokenizer};
use x2edit_runtime::DType;

fn tol(path: Path) -> f64 {
    match path {
        Path::F32 => 1e-4,
        Path::F16 => 2e-3,
    }
}

fn align(path: Path, adapter: &std::path::Path) {
    let gpu = gpu(path);
    let inp = Fixture::open("align/inputs.safetensors");
    let exp = Fixture::open("align/expected.safetensors");
    let hs = inp.f32("hidden_states");
    let net = AlignNet::load(gpu, &alignnet::open_weights(adapter).unwrap()).unwrap();
    assert_eq!((net.conv.channels, net.conv.kernel), (3, 5));
    // the conv alone, layer by layer
    let mut acc = net.conv.start(gpu, 512, 64).unwrap();
    for p in hs.chunks(512 * 64) {
        let t = gpu.upload_act(p, &[512, 64], DType::act(gpu.act())).unwrap();
        net.conv.accumulate(gpu, &mut acc, &t).unwrap();
    }
    check(&format!("{path:?} conv"), &gpu.read_f32(&acc.out).unwrap(), &exp.f32("debug.conv"), tol(path));
    assert!(net.conv.accumulate(gpu, &mut acc, &gpu.upload_f32(&hs[..512 * 64], &[512, 64]).unwrap()).is_err(), "a 4th hidden state is refused");
    let out = net.forward_host(gpu, &hs, 512, 64).unwrap();
    check(&format!("{path:?} prompt_embeds"), &gpu.read_f32(&out.prompt_embeds).unwrap(), &exp.f32("prompt_embeds"), tol(path));
    check(&format!("{path:?} pooled"), &gpu.read_f32(&out.pooled).unwrap(), &exp.f32("pooled"), tol(path));
}

both_paths!(align_release_folder_f32, align_release_folder_f16, |p| align(p, &adapter()));

fn convert(input: &std::path::Path, name: &str, target: Option<x2edit_quantize::GgmlType>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("x2edit-text-align-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let opts = x2edit_quantize::convert::Options { target, ..Default::default() };
    x2edit_quantize::convert::convert(input, &out, &opts, &mut |_, _| {}).unwrap();
    out
}

#[test]
fn align_adapter_gguf() {
    align(Path::F32, &convert(&adapter(), "adapter.gguf", None));
}

#[test]
fn text_path_our_q8_0_gguf() {
    // Q8_0 weights against the float reference: the quantization error itself (about 0.5%
    // per weight) is what separates them, so the tolerance is that of a quantized model.
    let path = convert(&text_encoder(), "text_encoder.gguf", Some(x2edit_quantize::GgmlType::Q8_0));
    let gpu = gpu(Path::F32);
    let tok = Tokenizer::open(&path).unwrap();
    let enc = text::encode_instruction(&tok, "Change the color of the car to red.", text::PromptFormat::X2Edit).unwrap();
    let inp = Fixture::open("text/inputs.safetensors");
    assert_eq!(enc, Encoded { ids: inp.u32("input_ids"), mask: inp.u32("attention_mask") });
    let qwen = Qwen2Model::open(gpu, &path, Residency::Streaming).unwrap();
    let aw = alignnet::open_weights(&adapter()).unwrap();
    let net = AlignNet::load(gpu, &aw).unwrap();
    let hidden = text::encode_hidden(&qwen, &net.conv, &enc, false).unwrap();
    let (emb, pooled) = text::align_head(gpu, &net.mlp, &hidden.conv).unwrap();
    let exp = Fixture::open("text/expected.safetensors");
    check("our Q8_0 GGUF prompt_embeds", &emb, &exp.f32("prompt_embeds"), 1e-2);
    check("our Q8_0 GGUF pooled", &pooled, &exp.f32("pooled"), 1e-2);
}
