//! Checkpoint: PyTorch zip pickles, safetensors (single and sharded), folders, bytes in memory.

mod common;
use common::*;
use std::collections::HashMap;
use x2edit_quantize::{Checkpoint, FileKind, FormatError, GgmlType};

#[test]
fn pickle_state_dict_reads_exactly() {
    let ck = Checkpoint::open(&fixtures().join("state_dict.bin")).unwrap();
    assert_eq!(ck.files()[0].kind, FileKind::TorchZip);
    let exp: HashMap<String, Vec<f64>> = serde_json::from_str(&std::fs::read_to_string(fixtures().join("state_dict.expected.json")).unwrap()).unwrap();
    assert_eq!(ck.tensors().len(), exp.len(), "non-tensor leaves (`step`) are skipped");
    for (name, want) in &exp {
        let got = ck.to_f32(name).unwrap();
        let want: Vec<f32> = want.iter().map(|&x| x as f32).collect();
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(ck.get("transposed").unwrap().shape, vec![4, 3]);
    assert_eq!(ck.get("half").unwrap().ty, GgmlType::F16);
    assert_eq!(ck.get("bf16").unwrap().ty, GgmlType::BF16);
    assert_eq!(ck.get("nested.inner").unwrap().ty, GgmlType::I64);
    // Strided views come back contiguous.
    assert_eq!(ck.data("transposed").unwrap().len(), 48);
    ck.validate().unwrap();
}

#[test]
fn pickle_rejects_unknown_global() {
    let p = fixtures().join("../corpus/torch/unknown_global.bin");
    match Checkpoint::open(&p) {
        Err(FormatError::PickleGlobal { module, name, .. }) => assert_eq!((module.as_str(), name.as_str()), ("posix", "system")),
        other => panic!("expected PickleGlobal, got {:?}", other.err()),
    }
}

#[test]
fn pickle_rejects_compressed_and_deep_input() {
    for (f, ok) in [("compressed.bin", "compressed"), ("deep_nesting.bin", "nesting"), ("huge_string.bin", "string length")] {
        let e = Checkpoint::open(&fixtures().join("../corpus/torch").join(f)).err().unwrap();
        assert!(e.to_string().contains(ok), "{f}: {e}");
    }
}

#[test]
fn safetensors_sharded_folder_merges_with_config() {
    let d = tmpdir("sharded");
    let a = vec![t("model.layers.0.w", &[2, 3])];
    let b = vec![t("model.layers.1.w", &[4])];
    write_safetensors(&d.join("model-00001-of-00002.safetensors"), &a, Some(HashMap::from([("format".to_string(), "pt".to_string())])));
    write_safetensors(&d.join("model-00002-of-00002.safetensors"), &b, None);
    std::fs::write(d.join("model.safetensors.index.json"), r#"{"metadata": {}, "weight_map": {"model.layers.0.w": "model-00001-of-00002.safetensors", "model.layers.1.w": "model-00002-of-00002.safetensors"}}"#).unwrap();
    std::fs::write(d.join("config.json"), r#"{"hidden_size": 7}"#).unwrap();
    // A stray file the index does not list is ignored.
    write_safetensors(&d.join("other.safetensors"), &[t("x", &[1])], None);
    let ck = Checkpoint::open(&d).unwrap();
    assert_eq!(ck.tensors().len(), 2);
    assert_eq!(ck.to_f32("model.layers.0.w").unwrap(), a[0].data);
    assert_eq!(ck.to_f32("model.layers.1.w").unwrap(), b[0].data);
    assert_eq!(ck.metadata().config_value("hidden_size").and_then(|v| v.as_u64()), Some(7));
    assert_eq!(ck.metadata().get_str("format"), Some("pt"));
    assert!(ck.file_of("model.layers.1.w").unwrap().ends_with("model-00002-of-00002.safetensors"));
}

#[test]
fn safetensors_half_types_dequantize() {
    let d = tmpdir("halves");
    let vals = [1.0f32, -2.5, 0.0, 65504.0, 1e-7];
    let f16: Vec<u8> = vals.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect();
    let bf: Vec<u8> = vals.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect();
    let views = vec![
        ("h".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::F16, vec![5], &f16).unwrap()),
        ("b".to_string(), safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, vec![5], &bf).unwrap()),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    std::fs::write(d.join("x.safetensors"), &bytes).unwrap();
    let ck = Checkpoint::open(&d.join("x.safetensors")).unwrap();
    let want_h: Vec<f32> = vals.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect();
    let want_b: Vec<f32> = vals.iter().map(|x| half::bf16::from_f32(*x).to_f32()).collect();
    assert_eq!(ck.to_f32("h").unwrap(), want_h);
    assert_eq!(ck.to_f32("b").unwrap(), want_b);
    let mem = Checkpoint::from_bytes("x", bytes).unwrap();
    assert_eq!(mem.to_f32("b").unwrap(), want_b);
}

#[test]
fn folder_prefers_safetensors_over_bin_and_skips_training_state() {
    let d = tmpdir("prefer");
    write_safetensors(&d.join("diffusion_pytorch_model.safetensors"), &[t("w", &[2])], None);
    std::fs::copy(fixtures().join("state_dict.bin"), d.join("diffusion_pytorch_model.bin")).unwrap();
    std::fs::copy(fixtures().join("../corpus/torch/unknown_global.bin"), d.join("optimizer.bin")).unwrap();
    let ck = Checkpoint::open(&d).unwrap();
    assert_eq!(ck.tensors().len(), 1);
    // Two files defining one name is an error that names it.
    write_safetensors(&d.join("again.safetensors"), &[t("w", &[2])], None);
    match Checkpoint::open(&d) {
        Err(FormatError::DuplicateTensor { tensor, .. }) => assert_eq!(tensor, "w"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn read_f32_ranges_respect_blocks() {
    let ck = Checkpoint::open(&fixtures().join("all_metadata_types.gguf")).unwrap();
    let all = ck.to_f32("quant_q8_0").unwrap();
    let mut part = vec![0f32; 64];
    ck.read_f32("quant_q8_0", 64, &mut part).unwrap();
    assert_eq!(part, all[64..128]);
    assert!(ck.read_f32("quant_q8_0", 16, &mut part[..32]).is_err(), "mid-block start");
    assert!(ck.read_f32("quant_q8_0", 192, &mut part[..32]).is_err(), "past the end");
    assert!(matches!(ck.to_f32("nope"), Err(FormatError::MissingTensor { .. })));
}
