//! Quantized weights on the GPU: every GGUF block type through the matmul (plain and
//! grouped/MoE) and the row gather, against the CPU reference on the dequantized blocks
//! (`x2edit-quantize`'s codecs, checked bit for bit against gguf-py). Rows span small and
//! tiny magnitudes so f16 block scales include subnormals.

mod common;
use common::*;
use x2edit_kernels::{layout, reference, Activation, WeightFormat};
use x2edit_quantize::codec;
use x2edit_runtime::weights::ggml_type;
use x2edit_runtime::ops::{self, Linear, Mat};
use x2edit_runtime::{DType, Gpu};

/// Random rows (every 5th row tiny, so block scales go subnormal), quantized to `f`;
/// returns the GPU weight and its dequantized values.
fn quant_weight(gpu: &Gpu, f: WeightFormat, n: usize, k: usize, rng: &mut Rng) -> (Linear, Vec<f32>) {
    let ty = ggml_type(f);
    let mut bytes = Vec::new();
    let mut deq = vec![0f32; n * k];
    for r in 0..n {
        let scale = if r % 5 == 4 { 2e-5 } else { 0.5 };
        let row = rng.vec(k, scale);
        let mut b = vec![0u8; ty.row_bytes(k).unwrap()];
        codec::quantize_row(ty, &row, &mut b).unwrap();
        codec::dequantize_row(ty, &b, &mut deq[r * k..(r + 1) * k]).unwrap();
        bytes.extend_from_slice(&b);
    }
    let packed = layout::repack(f, &bytes).unwrap();
    let t = gpu.upload(&packed, &[n, k], DType::Weight(f)).unwrap();
    (Linear { weight: t, bias: None, n, k }, deq)
}

fn matmul_case(path: Path, f: WeightFormat, m: usize, n: usize, seed: u64) {
    for set in KERNEL_SETS {
        matmul_case_on(gpu_kernels(path, set), path, f, m, n, seed);
    }
}

fn matmul_case_on(gpu: &Gpu, path: Path, f: WeightFormat, m: usize, n: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let k = if f.block_elems() == 256 { 512 } else { 96 };
    let (lin, w) = quant_weight(gpu, f, n, k, &mut rng);
    let x = round(path, &rng.vec(m * k, 1.0));
    let xt = gpu.upload_act(&x, &[m, k], act_dtype(path)).unwrap();
    let y = ops::linear(gpu, Mat::of(&xt), &lin, Activation::None).unwrap();
    let want = reference::matmul(&x, &w, None, m, n, k, Activation::None);
    let got = gpu.read_f32(&y).unwrap();
    let kernels = kernels_of(gpu);
    assert_close(&format!("matmul ({kernels:?}) {f:?} {m}x{n}x{k}"), &got, &round(path, &want), tolerance(path));
    // The tiny rows alone (their outputs would vanish in a whole-tensor norm).
    let tiny = |v: &[f32]| -> Vec<f32> { (0..m).flat_map(|r| (4..n).step_by(5).map(move |c| v[r * n + c])).collect() };
    assert_close(&format!("matmul {f:?} subnormal-scale rows"), &tiny(&got), &tiny(&round(path, &want)), tolerance(path));
}

macro_rules! quant_tests {
    ($($f32:ident, $f16:ident, $fmt:ident);* $(;)?) => {
        $(both_paths!($f32, $f16, |p| {
            matmul_case(p, WeightFormat::$fmt, 37, 21, 1);
            matmul_case(p, WeightFormat::$fmt, 1, 9, 2);
            matmul_case(p, WeightFormat::$fmt, 19, 260, 3);
        });)*
    };
}

quant_tests! {
    matmul_q8_0_odd_shapes, matmul_q8_0_odd_shapes_f16, Q8_0;
    matmul_q4_0_odd_shapes, matmul_q4_0_odd_shapes_f16, Q4_0;
    matmul_q4_1_odd_shapes, matmul_q4_1_odd_shapes_f16, Q4_1;
    matmul_q5_0_odd_shapes, matmul_q5_0_odd_shapes_f16, Q5_0;
    matmul_q5_1_odd_shapes, matmul_q5_1_odd_shapes_f16, Q5_1;
    matmul_q4_k_odd_shapes, matmul_q4_k_odd_shapes_f16, Q4_K;
    matmul_q5_k_odd_shapes, matmul_q5_k_odd_shapes_f16, Q5_K;
    matmul_q6_k_odd_shapes, matmul_q6_k_odd_shapes_f16, Q6_K;
}

both_paths!(gather_rows_all_formats_f32, gather_rows_all_formats_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(3);
    for f in WeightFormat::ALL {
        let (n, k) = (23, if f.block_elems() == 256 { 256 } else { 64 });
        let (lin, w) = quant_weight(gpu, f, n, k, &mut rng);
        let ids: Vec<u32> = [0, 22, 5, 5, 13, 4].to_vec();
        let idt = gpu.upload_u32(&ids, &[ids.len()]).unwrap();
        let y = gpu.alloc(&[ids.len(), k], act_dtype(path)).unwrap();
        ops::gather_rows(gpu, &idt, &lin, Mat::of(&y)).unwrap();
        let want: Vec<f32> = ids.iter().flat_map(|&i| w[i as usize * k..(i as usize + 1) * k].to_vec()).collect();
        assert_close(&format!("gather {f:?}"), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
    }
});
