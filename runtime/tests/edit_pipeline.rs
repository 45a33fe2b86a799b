//! The whole edit on the tiny fixture models (released-format folders, tokenizer.json in the
//! text encoder folder) against the PyTorch pipeline's 8-bit output, given its noise and task.

mod common;
use common::fixtures;
use common::*;
use std::sync::atomic::AtomicBool;
use x2edit_runtime::edit::{edit, EditRequest, Image, ModelPaths, ModelSet, SizeMode};
use x2edit_runtime::text::{PromptFormat, Task, TaskChoice};

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

fn run(path: Path) -> f64 {
    let gpu = gpu(path);
    let dir = fixtures::root().join("models");
    let models = ModelSet::open(&ModelPaths::from_dir(&dir).unwrap()).unwrap();
    let inp = fixtures::load("edit/inputs.safetensors");
    let exp = fixtures::load("edit/expected.safetensors");
    let src = &inp["source"];
    let bytes: Vec<u8> = src.data.iter().map(|&v| v as u8).collect();
    let image = Image::new(src.shape[1], src.shape[0], 3, bytes).unwrap();
    let prompt = "Make the sky look like a sunset with orange and pink clouds.";
    let req = EditRequest {
        task: TaskChoice::Fixed(Task::from_id(inp["task_id"].data[0] as u32).unwrap()),
        prompt_format: PromptFormat::X2Edit,
        steps: Some(4),
        guidance: 3.5,
        size: Some(SizeMode::Source),
        noise: Some(&inp["noise"].data),
        ..EditRequest::new(&image, prompt)
    };
    let out = edit(gpu, &models, &req, &mut |_| {}, &AtomicBool::new(false)).unwrap();
    let want: Vec<u8> = exp["image"].data.iter().map(|&v| v as u8).collect();
    assert_eq!((out.image.width, out.image.height), (80, 48));
    let p = psnr(&out.image.data, &want);
    println!("{path:?}: PSNR {p:.1} dB against the reference pipeline's image");
    p
}

#[test]
fn edit_matches_reference_pipeline_f32() {
    assert!(run(Path::F32) >= 58.0);
}

/// f16 activations through text encoder, DiT and VAE: about 40 dB (visually identical).
#[test]
fn edit_f16_close_to_reference() {
    assert!(run(Path::F16) >= 35.0);
}
