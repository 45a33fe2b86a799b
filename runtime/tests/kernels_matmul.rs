//! Matmul against the CPU reference: every float weight format, odd shapes, fused
//! epilogues, accumulation, strided views, and chunking under a small binding limit.

mod common;
use common::*;
use x2edit_kernels::{reference, Act, Activation, Kernel, Variant, WeightFormat};
use x2edit_runtime::ops::{self, Linear, Mat};
use x2edit_runtime::{DType, Gpu};

/// Uploads a float weight matrix in `fmt`; returns it and the values the GPU will see.
fn float_weight(gpu: &Gpu, w: &[f32], n: usize, k: usize, fmt: WeightFormat) -> (Linear, Vec<f32>) {
    let (bytes, seen): (Vec<u8>, Vec<f32>) = match fmt {
        WeightFormat::F32 => (bytemuck::cast_slice(w).to_vec(), w.to_vec()),
        WeightFormat::F16 => {
            let h: Vec<half::f16> = w.iter().map(|&v| half::f16::from_f32(v)).collect();
            (h.iter().flat_map(|v| v.to_le_bytes()).collect(), h.iter().map(|v| v.to_f32()).collect())
        }
        WeightFormat::BF16 => {
            let h: Vec<half::bf16> = w.iter().map(|&v| half::bf16::from_f32(v)).collect();
            (h.iter().flat_map(|v| v.to_le_bytes()).collect(), h.iter().map(|v| v.to_f32()).collect())
        }
        _ => unreachable!(),
    };
    let t = gpu.upload(&bytes, &[n, k], DType::Weight(fmt)).unwrap();
    (Linear { weight: t, bias: None, n, k }, seen)
}

fn run(path: Path, fmt: WeightFormat, m: usize, n: usize, k: usize, act: Activation, bias: bool, seed: u64) {
    for set in KERNEL_SETS {
        run_on(gpu_kernels(path, set), path, fmt, (m, n, k), act, bias, seed);
    }
}

fn run_on(gpu: &Gpu, path: Path, fmt: WeightFormat, (m, n, k): (usize, usize, usize), act: Activation, bias: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let x = round(path, &rng.vec(m * k, 1.0));
    let (mut lin, w) = float_weight(gpu, &rng.vec(n * k, 0.5), n, k, fmt);
    let b = rng.vec(n, 0.5);
    if bias {
        lin.bias = Some(gpu.upload_f32(&b, &[n]).unwrap());
    }
    let xt = gpu.upload_act(&x, &[m, k], act_dtype(path)).unwrap();
    let y = ops::linear(gpu, Mat::of(&xt), &lin, act).unwrap();
    let got = gpu.read_f32(&y).unwrap();
    let want = reference::matmul(&x, &w, bias.then_some(&b[..]), m, n, k, act);
    let kernels = kernels_of(gpu);
    assert_close(&format!("matmul ({kernels:?}) {fmt:?} {m}x{n}x{k} {act:?}"), &got, &round(path, &want), tolerance(path));
}

both_paths!(matmul_f32_odd_shapes, matmul_f32_odd_shapes_f16path, |p| {
    for (i, &(m, n, k)) in [(1, 1, 1), (7, 13, 45), (33, 65, 96), (70, 31, 129), (17, 300, 70)].iter().enumerate() {
        run(p, WeightFormat::F32, m, n, k, Activation::None, i % 2 == 0, i as u64);
    }
});

both_paths!(matmul_f16_weights_f32path, matmul_f16_weights_f16path, |p| {
    for (i, &(m, n, k)) in [(5, 9, 33), (37, 40, 64), (64, 3, 31)].iter().enumerate() {
        run(p, WeightFormat::F16, m, n, k, Activation::None, true, 10 + i as u64);
    }
});

both_paths!(matmul_bf16_weights_f32path, matmul_bf16_weights_f16path, |p| {
    for (i, &(m, n, k)) in [(5, 9, 33), (37, 40, 64)].iter().enumerate() {
        run(p, WeightFormat::BF16, m, n, k, Activation::None, true, 20 + i as u64);
    }
});

both_paths!(matmul_epilogues_f32, matmul_epilogues_f16, |p| {
    for (i, act) in [Activation::GeluTanh, Activation::GeluErf, Activation::Silu].into_iter().enumerate() {
        run(p, WeightFormat::F32, 19, 23, 40, act, true, 30 + i as u64);
    }
});

both_paths!(matmul_accumulate_strided_f32, matmul_accumulate_strided_f16, |path| {
    // y[:, 5..5+n] of a wider tensor += x[2..2+m, 3..3+k] W^T, other columns untouched.
    for set in KERNEL_SETS {
        let gpu = gpu_kernels(path, set);
        let mut rng = Rng::new(40);
        let (m, n, k, xw, yw) = (9, 11, 17, 24, 20);
        let x = round(path, &rng.vec((m + 2) * xw, 1.0));
        let y0 = round(path, &rng.vec(m * yw, 1.0));
        let (lin, w) = float_weight(gpu, &rng.vec(n * k, 0.5), n, k, WeightFormat::F32);
        let xt = gpu.upload_act(&x, &[m + 2, xw], act_dtype(path)).unwrap();
        let yt = gpu.upload_act(&y0, &[m, yw], act_dtype(path)).unwrap();
        let xv = Mat::of(&xt).rows(2, 2 + m).cols(3, 3 + k);
        let yv = Mat::of(&yt).cols(5, 5 + n);
        ops::matmul(gpu, xv, &lin, yv, Activation::None, true).unwrap();
        let got = gpu.read_f32(&yt).unwrap();
        let xs: Vec<f32> = (0..m).flat_map(|r| x[(r + 2) * xw + 3..(r + 2) * xw + 3 + k].to_vec()).collect();
        let prod = reference::matmul(&xs, &w, None, m, n, k, Activation::None);
        let mut want = y0.clone();
        for r in 0..m {
            for c in 0..n {
                want[r * yw + 5 + c] += prod[r * n + c];
            }
        }
        assert_close(&format!("matmul ({set:?}) accumulate into a strided view"), &got, &round(path, &want), tolerance(path));
    }
});

both_paths!(matmul_chunked_binding_limit_f32, matmul_chunked_binding_limit_f16, |path| {
    // A 64 KiB binding limit forces chunks over rows and over weight rows.
    for set in KERNEL_SETS {
        let gpu = gpu_with_binding_limit_kernels(path, 64 * 1024, set);
        let mut rng = Rng::new(50);
        let (m, n, k) = (300, 200, 96);
        let x = round(path, &rng.vec(m * k, 1.0));
        let (lin, w) = float_weight(&gpu, &rng.vec(n * k, 0.5), n, k, WeightFormat::F32);
        assert!(lin.weight.byte_len() > gpu.binding_limit() && (m * k * 2) as u64 > gpu.binding_limit() / 2);
        let xt = gpu.upload_act(&x, &[m, k], act_dtype(path)).unwrap();
        let y = ops::linear(&gpu, Mat::of(&xt), &lin, Activation::None).unwrap();
        let got = gpu.read_f32(&y).unwrap();
        let want = reference::matmul(&x, &w, None, m, n, k, Activation::None);
        assert_close(&format!("chunked matmul ({set:?})"), &got, &round(path, &want), tolerance(path));
    }
});

#[test]
fn subgroup_kernels_are_refused_without_subgroups() {
    // A typed error, not a shader validation failure, on an adapter without subgroups.
    let gpu = gpu_kernels(Path::F32, Kernels::Portable);
    let v = Variant::new(Act::F32).with_weight(WeightFormat::F32);
    let err = gpu.dispatch(Kernel::MatmulSubgroup, v, &[0u8; 48], &[], [1, 1, 1]).unwrap_err();
    assert!(err.to_string().contains("subgroup kernel without subgroups"), "{err}");
}
