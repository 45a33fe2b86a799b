//! conv2d (kernels 1, 3, 5; strides 1 and 2; rows wider than the subgroup tile; symmetric and the VAE's (0,1,0,1) padding; float
//! weight formats; accumulation into a slice as AlignNet does) and nearest 2x upsample.

mod common;
use common::*;
use x2edit_kernels::reference::{self, Conv2dShape};
use x2edit_kernels::{Activation, WeightFormat};
use x2edit_runtime::ops::{self, Conv2dArgs};
use x2edit_runtime::{DType, Gpu};

fn weight_bytes(w: &[f32], fmt: WeightFormat) -> (Vec<u8>, Vec<f32>) {
    match fmt {
        WeightFormat::F16 => {
            let h: Vec<half::f16> = w.iter().map(|&v| half::f16::from_f32(v)).collect();
            (h.iter().flat_map(|v| v.to_le_bytes()).collect(), h.iter().map(|v| v.to_f32()).collect())
        }
        WeightFormat::BF16 => {
            let h: Vec<half::bf16> = w.iter().map(|&v| half::bf16::from_f32(v)).collect();
            (h.iter().flat_map(|v| v.to_le_bytes()).collect(), h.iter().map(|v| v.to_f32()).collect())
        }
        _ => (bytemuck::cast_slice(w).to_vec(), w.to_vec()),
    }
}

fn run(path: Path, s: Conv2dShape, fmt: WeightFormat, seed: u64) {
    for set in KERNEL_SETS {
            run_on(gpu_kernels(path, set), path, s, fmt, seed);
    }
}

fn run_on(gpu: &Gpu, path: Path, s: Conv2dShape, fmt: WeightFormat, seed: u64) {
    let mut rng = Rng::new(seed);
    let x = round(path, &rng.vec(s.cin * s.h * s.w, 1.0));
    let (wb, w) = weight_bytes(&rng.vec(s.cout * s.cin * s.ks * s.ks, 0.3), fmt);
    let b = rng.vec(s.cout, 0.5);
    let (oh, ow) = s.out_hw();
    let xt = gpu.upload_act(&x, &[s.cin, s.h, s.w], act_dtype(path)).unwrap();
    let wt = gpu.upload(&wb, &[s.cout, s.cin, s.ks, s.ks], DType::Weight(fmt)).unwrap();
    let bt = gpu.upload_f32(&b, &[s.cout]).unwrap();
    let y = gpu.alloc(&[s.cout, oh, ow], act_dtype(path)).unwrap();
    let args = Conv2dArgs {
        x: &xt,
        x_off: 0,
        cin: s.cin,
        h: s.h,
        w: s.w,
        weight: &wt,
        w_off: 0,
        w_co_stride: s.cin * s.ks * s.ks,
        bias: Some(&bt),
        y: &y,
        y_off: 0,
        cout: s.cout,
        ks: s.ks,
        stride: s.stride,
        pad: s.pad,
        act: Activation::None,
        accumulate: false,
    };
    ops::conv2d(gpu, &args).unwrap();
    let want = reference::conv2d(&x, &w, Some(&b), s);
    let kernels = kernels_of(gpu);
    assert_close(&format!("conv2d ({kernels:?}) {s:?} {fmt:?}"), &gpu.read_f32(&y).unwrap(), &round(path, &want), tolerance(path));
}

fn shape(cin: usize, h: usize, w: usize, cout: usize, ks: usize, stride: usize, pad: [usize; 4]) -> Conv2dShape {
    Conv2dShape { cin, h, w, cout, ks, stride, pad }
}

both_paths!(conv2d_k1_k3_f32, conv2d_k1_k3_f16, |p| {
    run(p, shape(5, 7, 9, 6, 1, 1, [0; 4]), WeightFormat::F32, 1);
    run(p, shape(3, 11, 13, 7, 3, 1, [1; 4]), WeightFormat::F32, 2);
    run(p, shape(16, 6, 5, 32, 3, 1, [1; 4]), WeightFormat::F16, 3);
    // Several 32-wide k blocks, two 256-channel tiles, a partial pixel tile.
    run(p, shape(40, 9, 11, 300, 3, 1, [1; 4]), WeightFormat::F16, 8);
});

both_paths!(conv2d_3x3_wide_rows_f32, conv2d_3x3_wide_rows_f16, |p| {
    // Rows wider than a 32-pixel tile and not a multiple of it, channel counts whose weight
    // rows start at odd elements (f16 and bf16 runs decoded from an odd start), no padding,
    // uneven padding.
    run(p, shape(7, 5, 70, 9, 3, 1, [1; 4]), WeightFormat::F16, 11);
    run(p, shape(11, 4, 37, 5, 3, 1, [0; 4]), WeightFormat::BF16, 12);
    run(p, shape(4, 6, 33, 3, 3, 1, [2, 0, 0, 2]), WeightFormat::F32, 13);
});

both_paths!(conv2d_stride2_asym_pad_f32, conv2d_stride2_asym_pad_f16, |p| {
    // The VAE's downsample: pad (0, 1, 0, 1), kernel 3, stride 2.
    run(p, shape(4, 10, 14, 5, 3, 2, [0, 1, 0, 1]), WeightFormat::F32, 4);
    run(p, shape(3, 9, 7, 3, 3, 2, [0, 1, 0, 1]), WeightFormat::BF16, 5);
});

both_paths!(conv2d_k5_f32, conv2d_k5_f16, |p| {
    run(p, shape(3, 12, 20, 1, 5, 1, [2; 4]), WeightFormat::F32, 6);
});

both_paths!(conv2d_accumulate_slices_f32, conv2d_accumulate_slices_f16, |path| {
    // AlignNet: a [1, layers, 5, 5] conv over (token, feature) planes, accumulated one layer
    // (input channel) at a time from per-layer tensors.
    for set in KERNEL_SETS {
        let gpu = gpu_kernels(path, set);
        let mut rng = Rng::new(7);
        let (layers, h, w) = (3, 9, 21);
        let x = round(path, &rng.vec(layers * h * w, 1.0));
        let wv = rng.vec(layers * 25, 0.3);
        let b = rng.vec(1, 0.5);
        let wt = gpu.upload_f32(&wv, &[1, layers, 5, 5]).unwrap();
        let bt = gpu.upload_f32(&b, &[1]).unwrap();
        let y = gpu.alloc(&[h, w], act_dtype(path)).unwrap();
        for l in 0..layers {
            let xl = gpu.upload_act(&x[l * h * w..(l + 1) * h * w], &[h, w], act_dtype(path)).unwrap();
            let args = Conv2dArgs {
                x: &xl,
                x_off: 0,
                cin: 1,
                h,
                w,
                weight: &wt,
                w_off: l * 25,
                w_co_stride: layers * 25,
                bias: (l == 0).then_some(&bt),
                y: &y,
                y_off: 0,
                cout: 1,
                ks: 5,
                stride: 1,
                pad: [2; 4],
                act: Activation::None,
                accumulate: l > 0,
            };
            ops::conv2d(gpu, &args).unwrap();
    }
    let want = reference::conv2d(&x, &wv, Some(&b), shape(layers, h, w, 1, 5, 1, [2; 4]));
    // f16 storage rounds the running sum after each layer: allow for `layers` roundings.
    assert_close(&format!("conv2d ({set:?}) accumulated over layers"), &gpu.read_f32(&y).unwrap(), &want, tolerance(path) * layers as f32);
    }
});

both_paths!(upsample2x_f32, upsample2x_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(8);
    let (c, h, w) = (3, 5, 7);
    let x = round(path, &rng.vec(c * h * w, 1.0));
    let xt = gpu.upload_act(&x, &[c, h, w], act_dtype(path)).unwrap();
    let y = gpu.alloc(&[c, 2 * h, 2 * w], act_dtype(path)).unwrap();
    ops::upsample2x(gpu, &xt, &y, [c, h, w]).unwrap();
    assert_close("upsample", &gpu.read_f32(&y).unwrap(), &reference::upsample2x(&x, c, h, w), 0.0);
});
