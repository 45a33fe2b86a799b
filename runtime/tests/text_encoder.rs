//! The Qwen2.5-VL text encoder + AlignNet against the PyTorch reference (tests/fixtures/text):
//! all hidden states (pad rows included, un-masked as on CUDA), prompt_embeds and pooled, from
//! the HF folder and from the llama.cpp qwen2vl GGUF (quantized: compared with the reference
//! run on its dequantized weights), resident and streaming, on both precision paths.

mod common;
mod text_fixtures;
use common::{gpu, gpu_with_binding_limit, Path};
use text_fixtures::*;
use x2edit_runtime::model::alignnet::{self, Conv, Mlp3};
use x2edit_runtime::model::qwen::{Qwen2Model, Residency};
use x2edit_runtime::text::{self, Encoded};

/// Relative L2 tolerances per path. f32: the reference's own f32 rounding; f16: activations
/// stored in f16 between kernels (unit roundoff 4.9e-4) through 2 layers and AlignNet.
fn tol(path: Path) -> f64 {
    match path {
        Path::F32 => 1e-4,
        Path::F16 => 2e-3,
    }
}

fn inputs() -> Encoded {
    let inp = Fixture::open("text/inputs.safetensors");
    Encoded { ids: inp.u32("input_ids"), mask: inp.u32("attention_mask") }
}

fn run(path: Path, source: &std::path::Path, residency: Residency) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let gpu = gpu(path);
    let qwen = Qwen2Model::open(gpu, source, residency).unwrap();
    let aw = alignnet::open_weights(&adapter()).unwrap();
    let conv = Conv::load(gpu, &aw).unwrap();
    let hidden = text::encode_hidden(&qwen, &conv, &inputs(), true).unwrap();
    qwen.release();
    let mlp = Mlp3::load(gpu, &aw).unwrap();
    let (emb, pooled) = text::align_head(gpu, &mlp, &hidden.conv).unwrap();
    (hidden.states.unwrap(), emb, pooled)
}

fn hf_folder(path: Path) {
    let exp = Fixture::open("text/expected.safetensors");
    let (hs, emb, pooled) = run(path, &text_encoder(), Residency::Resident);
    assert_eq!(exp.shape("hidden_states"), [1, 3, 512, 64]);
    let want = exp.f32("hidden_states");
    let plane = 512 * 64;
    for k in 0..3 {
        check(&format!("{path:?} hidden state {k}"), &hs[k * plane..(k + 1) * plane], &want[k * plane..(k + 1) * plane], tol(path));
    }
    // the 452 left pads alone: they attend to all keys (CUDA's un-masking)
    let pads = 452 * 64;
    check(&format!("{path:?} last hidden state, pad rows"), &hs[2 * plane..2 * plane + pads], &want[2 * plane..2 * plane + pads], tol(path));
    check(&format!("{path:?} prompt_embeds"), &emb, &exp.f32("prompt_embeds"), tol(path));
    check(&format!("{path:?} pooled"), &pooled, &exp.f32("pooled"), tol(path));
}

#[test]
fn text_encoder_hf_folder_f32() {
    hf_folder(Path::F32);
}

#[test]
fn text_encoder_hf_folder_f16() {
    hf_folder(Path::F16);
}

/// The GGUF's weights are quantized (Q8_0, Q4_0/1, Q5_0/1, Q4_K; token_embd F16): the reference
/// ran on their dequantized values, so only our arithmetic differs, as for the float model.
fn gguf(path: Path) {
    let exp = Fixture::open("text/expected.safetensors");
    let (_, emb, pooled) = run(path, &qwen_gguf(), Residency::Streaming);
    check(&format!("{path:?} GGUF prompt_embeds"), &emb, &exp.f32("prompt_embeds.qwen2vl_gguf"), tol(path));
    check(&format!("{path:?} GGUF pooled"), &pooled, &exp.f32("pooled.qwen2vl_gguf"), tol(path));
}

#[test]
fn text_encoder_qwen2vl_gguf_f32() {
    gguf(Path::F32);
}

#[test]
fn text_encoder_qwen2vl_gguf_f16() {
    gguf(Path::F16);
}

#[test]
fn streaming_equals_resident_and_memory_is_released() {
    let (a, ..) = run(Path::F32, &text_encoder(), Residency::Streaming);
    let (b, ..) = run(Path::F32, &text_encoder(), Residency::Resident);
    assert_eq!(a, b, "streaming and resident layers give the same bits");
    // A private device: tests running in parallel on the shared one move its live bytes.
    let gpu = &gpu_with_binding_limit(Path::F32, u64::MAX);
    let before = gpu.memory().live;
    let qwen = Qwen2Model::open(gpu, &text_encoder(), Residency::Resident).unwrap();
    assert!(gpu.memory().live > before);
    qwen.release();
    assert_eq!(gpu.memory().live, before, "every buffer of the encoder is released");
}

#[test]
fn config_and_errors_name_their_source() {
    let gpu = gpu(Path::F32);
    let hf = Qwen2Model::open(gpu, &text_encoder(), Residency::Streaming).unwrap();
    let gg = Qwen2Model::open(gpu, &qwen_gguf(), Residency::Streaming).unwrap();
    assert_eq!(hf.config, gg.config);
    assert_eq!((hf.config.hidden_size, hf.config.num_hidden_layers, hf.config.num_key_value_heads, hf.config.vocab_size), (64, 2, 2, 704));
    assert_eq!(hf.config.mrope_section, [2, 3, 3]);
    let e = Qwen2Model::open(gpu, &adapter(), Residency::Streaming).err().unwrap().to_string();
    assert!(e.contains("adapter") && e.contains("embed"), "{e}");
    let bad = Encoded { ids: vec![9999; 4], mask: vec![1; 4] };
    let e = hf.hidden_states(&bad, |_, _| Ok(())).err().unwrap().to_string();
    assert!(e.contains("9999"), "{e}");
}
