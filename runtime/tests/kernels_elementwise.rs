//! Element-wise and reduction kernels: activations, copy/slice/concat along tokens, binary
//! ops with broadcast, the gated f32 residual, SwiGLU, softmax, mean over tokens, argmax.

mod common;
use common::*;
use x2edit_kernels::{reference, Activation, BinaryOp};
use x2edit_runtime::ops::{self, Mat, MapOp};
use x2edit_runtime::DType;

both_paths!(activations_f32, activations_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(1);
    let (rows, cols) = (37, 129);
    let x = round(path, &rng.vec(rows * cols, 8.0));
    let xt = gpu.upload_act(&x, &[rows, cols], act_dtype(path)).unwrap();
    for act in [Activation::GeluTanh, Activation::GeluErf, Activation::Silu] {
        let y = gpu.alloc(&[rows, cols], act_dtype(path)).unwrap();
        ops::map(gpu, Mat::of(&xt), Mat::of(&y), MapOp::Act(act)).unwrap();
        let want: Vec<f32> = x.iter().map(|&v| reference::activate(v, act)).collect();
        assert_close(&format!("{act:?}"), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
    }
    let y = gpu.alloc(&[rows, cols], act_dtype(path)).unwrap();
    ops::map(gpu, Mat::of(&xt), Mat::of(&y), MapOp::Affine(-0.5, 2.0)).unwrap();
    let want: Vec<f32> = x.iter().map(|&v| -0.5 * v + 2.0).collect();
    assert_close("affine", &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
});

both_paths!(concat_slice_tokens_f32, concat_slice_tokens_f16, |path| {
    // [txt | img] concatenated along tokens, then a column slice copied out and cast.
    let gpu = gpu(path);
    let mut rng = Rng::new(2);
    let (lt, li, c) = (5, 11, 24);
    let a = round(path, &rng.vec(lt * c, 1.0));
    let b = round(path, &rng.vec(li * c, 1.0));
    let at = gpu.upload_act(&a, &[lt, c], act_dtype(path)).unwrap();
    let bt = gpu.upload_act(&b, &[li, c], act_dtype(path)).unwrap();
    let joint = gpu.alloc(&[lt + li, c], act_dtype(path)).unwrap();
    ops::map(gpu, Mat::of(&at), Mat::of(&joint).rows(0, lt), MapOp::Copy).unwrap();
    ops::map(gpu, Mat::of(&bt), Mat::of(&joint).rows(lt, lt + li), MapOp::Copy).unwrap();
    let want: Vec<f32> = a.iter().chain(&b).copied().collect();
    assert_close("concat", &gpu.read_f32(&joint).unwrap(), &want, 0.0);
    let slice = gpu.alloc(&[lt + li, 7], DType::F32).unwrap();
    ops::map(gpu, Mat::of(&joint).cols(3, 10), Mat::of(&slice), MapOp::Copy).unwrap();
    let want: Vec<f32> = (0..lt + li).flat_map(|r| want[r * c + 3..r * c + 10].to_vec()).collect();
    assert_close("slice", &gpu.read_f32(&slice).unwrap(), &want, 0.0);
});

both_paths!(binary_broadcast_f32, binary_broadcast_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(3);
    let (rows, cols) = (9, 70);
    let a = round(path, &rng.vec(rows * cols, 2.0));
    let b = round(path, &rng.vec(rows * cols, 2.0));
    let row = round(path, &rng.vec(cols, 2.0));
    let at = gpu.upload_act(&a, &[rows, cols], act_dtype(path)).unwrap();
    let bt = gpu.upload_act(&b, &[rows, cols], act_dtype(path)).unwrap();
    let rt = gpu.upload_act(&row, &[1, cols], act_dtype(path)).unwrap();
    for op in [BinaryOp::Add, BinaryOp::Mul, BinaryOp::Sub] {
        for (bt, bv) in [(&bt, &b), (&rt, &row)] {
            let y = gpu.alloc(&[rows, cols], act_dtype(path)).unwrap();
            ops::binary(gpu, Mat::of(&at), Mat::of(bt), Mat::of(&y), op).unwrap();
            let want = reference::binary(&a, bv, cols, op);
            assert_close(&format!("{op:?} broadcast {}", bv.len() == cols), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
        }
    }
});

both_paths!(gated_residual_f32, gated_residual_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(4);
    let (rows, cols) = (17, 48);
    let r = rng.vec(rows * cols, 3.0);
    let x = round(path, &rng.vec(rows * cols, 1.0));
    let g = rng.vec(3 * cols, 1.0);
    for gated in [true, false] {
        let rt = gpu.upload_f32(&r, &[rows, cols]).unwrap();
        let xt = gpu.upload_act(&x, &[rows, cols], act_dtype(path)).unwrap();
        let gt = gpu.upload_f32(&g, &[3 * cols]).unwrap();
        ops::gated_residual(gpu, Mat::of(&rt), Mat::of(&xt), gated.then_some((&gt, 2 * cols))).unwrap();
        let mut want = r.clone();
        reference::gated_residual(&mut want, &x, gated.then_some(&g[2 * cols..]), cols);
        assert_close(&format!("gated residual {gated}"), &gpu.read_f32(&rt).unwrap(), &want, 1e-6);
    }
});

both_paths!(swiglu_f32, swiglu_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(5);
    let (rows, f) = (13, 37);
    let x = round(path, &rng.vec(rows * 2 * f, 4.0));
    let xt = gpu.upload_act(&x, &[rows, 2 * f], act_dtype(path)).unwrap();
    let y = gpu.alloc(&[rows, f], act_dtype(path)).unwrap();
    ops::swiglu(gpu, Mat::of(&xt), Mat::of(&y)).unwrap();
    assert_close("swiglu", &gpu.read_f32(&y).unwrap(), &round(path, &reference::swiglu(&x, rows, f)), tolerance(path));
});

both_paths!(softmax_f32, softmax_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(6);
    for (rows, cols) in [(1, 1), (5, 12), (3, 1000)] {
        let x = round(path, &rng.vec(rows * cols, 10.0));
        let xt = gpu.upload_act(&x, &[rows, cols], act_dtype(path)).unwrap();
        let y = gpu.alloc(&[rows, cols], act_dtype(path)).unwrap();
        ops::softmax(gpu, Mat::of(&xt), Mat::of(&y)).unwrap();
        assert_close(&format!("softmax {rows}x{cols}"), &gpu.read_f32(&y).unwrap(), &round(path, &reference::softmax(&x, cols)), tolerance(path));
    }
});

both_paths!(mean_rows_f32, mean_rows_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(7);
    let (rows, cols) = (512, 70);
    let x = round(path, &rng.vec(rows * cols, 1.0));
    let xt = gpu.upload_act(&x, &[rows, cols], act_dtype(path)).unwrap();
    let y = gpu.alloc(&[1, cols], act_dtype(path)).unwrap();
    ops::mean_rows(gpu, Mat::of(&xt), Mat::of(&y)).unwrap();
    assert_close("mean over tokens", &gpu.read_f32(&y).unwrap(), &round(path, &reference::mean_rows(&x, rows, cols)), tolerance(path));
});

both_paths!(argmax_f32, argmax_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(8);
    let (rows, cols) = (6, 1531);
    let mut x = round(path, &rng.vec(rows * cols, 1.0));
    x[2 * cols + 1530] = 5.0; // last column
    x[3 * cols] = 5.0; // first column
    x[4 * cols + 7] = 5.0; // a tie: the first index wins
    x[4 * cols + 9] = 5.0;
    let xt = gpu.upload_act(&x, &[rows, cols], act_dtype(path)).unwrap();
    let got = gpu.read_u32(&ops::argmax(gpu, Mat::of(&xt)).unwrap()).unwrap();
    assert_eq!(got, reference::argmax(&x, cols));
});
