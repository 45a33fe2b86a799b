//! Greedy task routing (KV cache, lm_head in row chunks) against the reference's greedy
//! generation on the tiny model (tests/fixtures/route), token for token.

mod common;
mod text_fixtures;
use common::{gpu, Path};
use text_fixtures::*;
use x2edit_runtime::model::qwen::{Qwen2Model, Residency};
use x2edit_runtime::text::{self, Task, Tokenizer};

fn instructions() -> Vec<String> {
    let listing: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(fixtures().join("route/prompts.json")).unwrap()).unwrap();
    listing.iter().map(|r| r["instruction"].as_str().unwrap().to_string()).collect()
}

fn generation(path: Path, residency: Residency) {
    let gpu = gpu(path);
    let tok = Tokenizer::open(&text_encoder()).unwrap();
    let model = Qwen2Model::open(gpu, &text_encoder(), residency).unwrap();
    let exp = Fixture::open("route/expected.safetensors");
    for (i, ins) in instructions().iter().enumerate() {
        let want = exp.u32(&format!("generated_ids.{i}"));
        let g = model.generate_greedy(&text::route_inputs(&tok, ins), want.len(), &[636, 634]).unwrap();
        let logits_tol = if path == Path::F32 { 1e-4 } else { 2e-3 };
        check(&format!("{path:?} {residency:?} route {i} first logits"), &g.first_logits, &exp.f32(&format!("debug.logits.{i}")), logits_tol);
        assert_eq!(g.ids, want, "{path:?} route {i}: generated ids");
        let answer = tok.decode(&g.ids, true);
        assert_eq!(Task::from_answer(&answer).id() as i64, exp.i64(&format!("task_id.{i}"))[0], "task of {answer:?}");
    }
}

#[test]
fn route_greedy_f32() {
    generation(Path::F32, Residency::Resident);
}

#[test]
fn route_greedy_f16() {
    generation(Path::F16, Residency::Resident);
}

#[test]
fn route_greedy_streaming_gguf_vocab() {
    // streaming layers and lm_head chunks uploaded per step (a 64 KiB binding limit splits
    // lm_head into 6 chunks); the tokenizer from the GGUF
    let gpu = &common::gpu_with_binding_limit(Path::F32, 64 << 10);
    let tok = Tokenizer::open(&qwen_gguf()).unwrap();
    let model = Qwen2Model::open(gpu, &text_encoder(), Residency::Streaming).unwrap();
    let exp = Fixture::open("route/expected.safetensors");
    let ins = &instructions()[0];
    assert_eq!(model.lm_head_ranges().len(), 6);
    let r = text::route(&model, &tok, ins, 8).unwrap();
    assert_eq!(r.generated, exp.u32("generated_ids.0"));
    assert_eq!(r.task, Task::Unknown);
}
