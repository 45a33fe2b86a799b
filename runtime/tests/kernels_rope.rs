//! RoPE: FLUX's 3-axis rotation of adjacent pairs (with and without QK-norm) and Qwen's
//! rotate-half with left-padding positions, in place on strided views.

mod common;
use common::*;
use x2edit_kernels::reference;
use x2edit_runtime::ops::{self, Mat, RopeFlux};

fn flux_ids(tokens: usize, rng: &mut Rng) -> Vec<f32> {
    // text ids 0, image ids (0, y, x), cond ids (0, y + 64, x)
    (0..tokens).flat_map(|t| if t < 3 { [0.0; 3] } else { [0.0, (rng.below(40) + 64 * (t % 2)) as f32, rng.below(64) as f32] }).collect()
}

fn run_flux(path: Path, heads: usize, d: usize, axes: [usize; 3], norm: bool, seed: u64) {
    let gpu = gpu(path);
    let mut rng = Rng::new(seed);
    let tokens = 19;
    let width = 3 * heads * d; // q|k|v rows; rotate the k part in place
    let x = round(path, &rng.vec(tokens * width, 2.0));
    let ids = flux_ids(tokens + 2, &mut rng);
    let scale = rng.vec(d, 1.0);
    let freqs = reference::rope_flux_freqs(axes, 10000.0);
    let xt = gpu.upload_act(&x, &[tokens, width], act_dtype(path)).unwrap();
    let idt = gpu.upload_f32(&ids, &[tokens + 2, 3]).unwrap();
    let ft = gpu.upload_f32(&freqs.0, &[d / 2]).unwrap();
    let st = gpu.upload_f32(&scale, &[d]).unwrap();
    let args = RopeFlux { ids: &idt, pos_off: 2, freqs: &ft, axis1: freqs.1, axis2: freqs.2, rotate: true, norm: norm.then_some((&st, 1e-6)) };
    ops::rope_flux(gpu, Mat::of(&xt).cols(heads * d, 2 * heads * d), heads, d, &args).unwrap();
    let mut kpart: Vec<f32> = (0..tokens).flat_map(|t| x[t * width + heads * d..t * width + 2 * heads * d].to_vec()).collect();
    reference::rope_flux(&mut kpart, &ids[6..], &freqs, heads, d, norm.then_some((&scale[..], 1e-6)));
    let mut want = x.clone();
    for t in 0..tokens {
        want[t * width + heads * d..t * width + 2 * heads * d].copy_from_slice(&kpart[t * heads * d..(t + 1) * heads * d]);
    }
    assert_close(&format!("rope flux h{heads} d{d} {axes:?} norm {norm}"), &gpu.read_f32(&xt).unwrap(), &round(path, &want), tolerance(path));
}

both_paths!(rope_flux_axes_f32, rope_flux_axes_f16, |p| {
    run_flux(p, 3, 32, [8, 12, 12], false, 1);
    run_flux(p, 2, 128, [16, 56, 56], false, 2);
});

both_paths!(rope_flux_qk_norm_f32, rope_flux_qk_norm_f16, |p| {
    run_flux(p, 3, 32, [8, 12, 12], true, 3);
    run_flux(p, 1, 128, [16, 56, 56], true, 4);
});

both_paths!(rope_half_qwen_f32, rope_half_qwen_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(5);
    let (tokens, heads, kv, d) = (23, 4, 2, 16);
    let width = (heads + 2 * kv) * d;
    let x = round(path, &rng.vec(tokens * width, 1.0));
    // left padding: 7 pads at position 1, then 0, 1, 2, ... (transformers' text-only rule)
    let pos: Vec<f32> = (0..tokens).map(|t| if t < 7 { 1.0 } else { (t - 7) as f32 }).collect();
    let freqs = reference::rope_half_freqs(d, 1e6);
    let xt = gpu.upload_act(&x, &[tokens, width], act_dtype(path)).unwrap();
    let pt = gpu.upload_f32(&pos, &[tokens]).unwrap();
    let ft = gpu.upload_f32(&freqs, &[d / 2]).unwrap();
    ops::rope_half(gpu, Mat::of(&xt).cols(0, heads * d), heads, d, &pt, 0, &ft).unwrap();
    ops::rope_half(gpu, Mat::of(&xt).cols(heads * d, (heads + kv) * d), kv, d, &pt, 0, &ft).unwrap();
    let mut want = x.clone();
    for (c0, h) in [(0, heads), (heads * d, kv)] {
        let mut part: Vec<f32> = (0..tokens).flat_map(|t| x[t * width + c0..t * width + c0 + h * d].to_vec()).collect();
        reference::rope_half(&mut part, &pos, &freqs, h, d);
        for t in 0..tokens {
            want[t * width + c0..t * width + c0 + h * d].copy_from_slice(&part[t * h * d..(t + 1) * h * d]);
        }
    }
    assert_close("rope half", &gpu.read_f32(&xt).unwrap(), &round(path, &want), tolerance(path));
});
