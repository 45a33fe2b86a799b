//! RMSNorm, LayerNorm (affine and not), FLUX's modulated LayerNorm and GroupNorm against
//! their CPU references, on odd widths and strided views.

mod common;
use common::*;
use x2edit_kernels::{reference, Activation};
use x2edit_runtime::ops::{self, Mat};

both_paths!(rms_norm_f32, rms_norm_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(1);
    for (rows, w) in [(1, 1), (7, 45), (33, 300), (5, 3584)] {
        let x = round(path, &rng.vec(rows * w, 2.0));
        let g = rng.vec(w, 1.0);
        let xt = gpu.upload_act(&x, &[rows, w], act_dtype(path)).unwrap();
        let gt = gpu.upload_f32(&g, &[w]).unwrap();
        let y = gpu.alloc(&[rows, w], act_dtype(path)).unwrap();
        ops::rms_norm(gpu, Mat::of(&xt), Mat::of(&y), Some(&gt), 1e-6).unwrap();
        let want = reference::rms_norm(&x, w, Some(&g), 1e-6);
        assert_close(&format!("rms_norm {rows}x{w}"), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
    }
});

both_paths!(layer_norm_f32, layer_norm_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(2);
    for (i, (rows, w)) in [(3, 17), (9, 100), (4, 3072)].into_iter().enumerate() {
        let x: Vec<f32> = round(path, &rng.vec(rows * w, 3.0).iter().map(|v| v + 0.5).collect::<Vec<_>>());
        let g = rng.vec(w, 1.0);
        let b = rng.vec(w, 1.0);
        let affine = i % 2 == 0;
        let xt = gpu.upload_act(&x, &[rows, w], act_dtype(path)).unwrap();
        let gt = gpu.upload_f32(&g, &[w]).unwrap();
        let bt = gpu.upload_f32(&b, &[w]).unwrap();
        let y = gpu.alloc(&[rows, w], act_dtype(path)).unwrap();
        ops::layer_norm(gpu, Mat::of(&xt), Mat::of(&y), affine.then_some(&gt), affine.then_some(&bt), 1e-6).unwrap();
        let want = reference::layer_norm(&x, w, affine.then_some(&g[..]), affine.then_some(&b[..]), 1e-6);
        assert_close(&format!("layer_norm {rows}x{w} affine {affine}"), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
    }
});

both_paths!(layer_norm_modulate_f32, layer_norm_modulate_f16, |path| {
    // The residual stream is f32; scale and shift are slices of one modulation vector.
    let gpu = gpu(path);
    let mut rng = Rng::new(3);
    let (rows, w) = (13, 96);
    let x = rng.vec(rows * w, 4.0);
    let m = rng.vec(6 * w, 1.0);
    let xt = gpu.upload_f32(&x, &[rows, w]).unwrap();
    let mt = gpu.upload_f32(&m, &[6 * w]).unwrap();
    let y = gpu.alloc(&[rows, w], act_dtype(path)).unwrap();
    // (shift, scale) = chunks 3 and 4, as FLUX's second modulation
    ops::layer_norm_modulate(gpu, Mat::of(&xt), Mat::of(&y), (&mt, 4 * w), (&mt, 3 * w), 1e-6).unwrap();
    let want = reference::layer_norm_modulate(&x, w, &m[4 * w..5 * w], &m[3 * w..4 * w], 1e-6);
    assert_close("layer_norm_modulate", &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
});

both_paths!(group_norm_f32, group_norm_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(4);
    for (i, (c, h, w, groups)) in [(32, 5, 7, 32), (64, 9, 11, 32), (12, 3, 3, 4)].into_iter().enumerate() {
        let x = round(path, &rng.vec(c * h * w, 2.0));
        let gb = rng.vec(2 * c, 1.0);
        let act = if i == 1 { Activation::Silu } else { Activation::None };
        let xt = gpu.upload_act(&x, &[c, h, w], act_dtype(path)).unwrap();
        let gbt = gpu.upload_f32(&gb, &[2 * c]).unwrap();
        let y = gpu.alloc(&[c, h, w], act_dtype(path)).unwrap();
        ops::group_norm(gpu, &xt, &y, [c, h, w], groups, &gbt, 1e-6, act).unwrap();
        let want = reference::group_norm(&x, c, groups, &gb[..c], &gb[c..], 1e-6, act);
        assert_close(&format!("group_norm {c}x{h}x{w}/{groups} {act:?}"), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
    }
});
