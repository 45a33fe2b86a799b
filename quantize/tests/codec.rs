//! Codecs against gguf-py 0.19.0 (fixtures made by tests/python/make_fixtures.py).

use x2edit_quantize::codec::{dequantize_row, quantize_row};
use x2edit_quantize::GgmlType;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn check_quant(ty: GgmlType) {
    let x = f32s(&fixture("quant_input.f32"));
    let expected = fixture(&format!("quant_{}.bin", ty.name()));
    let mut out = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    quantize_row(ty, &x, &mut out).unwrap();
    let bb = ty.block_bytes();
    for (i, (a, b)) in out.chunks(bb).zip(expected.chunks(bb)).enumerate() {
        assert_eq!(a, b, "{ty} block {i} differs from gguf-py; input {:?}", &x[i * ty.block_elems()..(i + 1) * ty.block_elems()]);
    }
    assert_eq!(out.len(), expected.len());
}

fn check_dequant(ty: GgmlType) {
    let blocks = fixture(&format!("dequant_{}.bin", ty.name()));
    let expected = f32s(&fixture(&format!("dequant_{}.f32", ty.name())));
    let mut out = vec![0f32; expected.len()];
    dequantize_row(ty, &blocks, &mut out).unwrap();
    for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "{ty} element {i}: ours {a:e}, gguf-py {b:e}");
    }
}

#[test]
fn q8_0_quant_matches_gguf_py() { check_quant(GgmlType::Q8_0) }
#[test]
fn q4_0_quant_matches_gguf_py() { check_quant(GgmlType::Q4_0) }
#[test]
fn q4_1_quant_matches_gguf_py() { check_quant(GgmlType::Q4_1) }
#[test]
fn q5_0_quant_matches_gguf_py() { check_quant(GgmlType::Q5_0) }
#[test]
fn q5_1_quant_matches_gguf_py() { check_quant(GgmlType::Q5_1) }
#[test]
fn bf16_quant_matches_gguf_py() { check_quant(GgmlType::BF16) }

#[test]
fn q8_0_dequant_matches_gguf_py() { check_dequant(GgmlType::Q8_0) }
#[test]
fn q4_0_dequant_matches_gguf_py() { check_dequant(GgmlType::Q4_0) }
#[test]
fn q4_1_dequant_matches_gguf_py() { check_dequant(GgmlType::Q4_1) }
#[test]
fn q5_0_dequant_matches_gguf_py() { check_dequant(GgmlType::Q5_0) }
#[test]
fn q5_1_dequant_matches_gguf_py() { check_dequant(GgmlType::Q5_1) }
#[test]
fn q2_k_dequant_matches_gguf_py() { check_dequant(GgmlType::Q2_K) }
#[test]
fn q3_k_dequant_matches_gguf_py() { check_dequant(GgmlType::Q3_K) }
#[test]
fn q4_k_dequant_matches_gguf_py() { check_dequant(GgmlType::Q4_K) }
#[test]
fn q5_k_dequant_matches_gguf_py() { check_dequant(GgmlType::Q5_K) }
#[test]
fn q6_k_dequant_matches_gguf_py() { check_dequant(GgmlType::Q6_K) }
#[test]
fn f16_dequant_matches_gguf_py() { check_dequant(GgmlType::F16) }
#[test]
fn bf16_dequant_matches_gguf_py() { check_dequant(GgmlType::BF16) }

/// Simple xorshift so the test needs no crate.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            let mut acc = 0.0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                acc += (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            }
            acc
        })
        .collect()
}

fn roundtrip_rms(ty: GgmlType, x: &[f32]) -> f32 {
    let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    quantize_row(ty, x, &mut q).unwrap();
    let mut y = vec![0f32; x.len()];
    dequantize_row(ty, &q, &mut y).unwrap();
    let err: f32 = x.iter().zip(&y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / x.len() as f32;
    let pow: f32 = x.iter().map(|a| a * a).sum::<f32>() / x.len() as f32;
    (err / pow).sqrt()
}

#[test]
fn kquant_quant_roundtrip_error_is_small() {
    let x = noise(256 * 64, 7);
    // Relative RMS errors typical of each type (ggml's test-quantize-fns uses similar bounds).
    for (ty, bound) in [(GgmlType::Q4_K, 0.12), (GgmlType::Q5_K, 0.06), (GgmlType::Q6_K, 0.03), (GgmlType::Q8_0, 0.01), (GgmlType::Q4_0, 0.15), (GgmlType::Q5_1, 0.06)] {
        let e = roundtrip_rms(ty, &x);
        assert!(e < bound, "{ty}: relative RMS error {e} >= {bound}");
    }
}

#[test]
fn kquant_quant_zero_and_constant_blocks() {
    for ty in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        for v in [0.0f32, 1.5, -2.0] {
            let x = vec![v; 256];
            let mut q = vec![0u8; ty.block_bytes()];
            quantize_row(ty, &x, &mut q).unwrap();
            let mut y = vec![0f32; 256];
            dequantize_row(ty, &q, &mut y).unwrap();
            for a in &y {
                assert!((a - v).abs() <= v.abs() * 0.02 + 1e-6, "{ty} constant {v}: got {a}");
            }
        }
    }
}

#[test]
fn codec_rejects_partial_blocks() {
    let mut out = vec![0u8; 34];
    assert!(quantize_row(GgmlType::Q8_0, &[0.0; 31], &mut out).is_err());
    let mut y = vec![0f32; 32];
    assert!(dequantize_row(GgmlType::Q8_0, &[0u8; 33], &mut y).is_err());
}
