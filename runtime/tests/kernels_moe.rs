//! Task-aware MoE-LoRA: top-2 gating (softmax over all experts, no renormalisation), sparse
//! dispatch (counts, padded offsets, token lists, grouped matmuls, weighted combine) and the
//! dense evaluation, both against the CPU reference, plus the shared expert.

mod common;
use common::*;
use x2edit_kernels::{reference, Activation};
use x2edit_runtime::ops::{self, Linear, Mat, MoeExperts, MoeMode};
use x2edit_runtime::Gpu;

struct Layer {
    t: usize,
    h: usize,
    out: usize,
    e: usize,
    r: usize,
    x: Vec<f32>,
    gate: Vec<f32>,
    task: Vec<f32>,
    down: Vec<f32>,
    up: Vec<f32>,
    sdown: Vec<f32>,
    sup: Vec<f32>,
    y0: Vec<f32>,
}

fn layer(path: Path, t: usize, seed: u64) -> Layer {
    let mut rng = Rng::new(seed);
    let (h, out, e, r) = (64, 48, 12, 8);
    Layer {
        t,
        h,
        out,
        e,
        r,
        x: round(path, &rng.vec(t * h, 1.0)),
        gate: rng.vec(e * h, 0.3),
        task: rng.vec(e, 1.0),
        down: rng.vec(e * r * h, 0.2),
        up: rng.vec(e * out * r, 0.2),
        sdown: rng.vec(r * h, 0.2),
        sup: rng.vec(out * r, 0.2),
        y0: round(path, &rng.vec(t * out, 1.0)),
    }
}

fn lin(gpu: &Gpu, w: &[f32], n: usize, k: usize) -> Linear {
    Linear { weight: gpu.upload_f32(w, &[n, k]).unwrap(), bias: None, n, k }
}

fn reference(l: &Layer) -> (Vec<reference::Top2>, Vec<f32>) {
    // the task half of the gate enters as a bias computed once per edit
    let logits = reference::matmul(&l.x, &l.gate, Some(&l.task), l.t, l.e, l.h, Activation::None);
    let routes = reference::top2(&logits, l.e);
    let routed = reference::moe_dense(&l.x, &routes, &l.down, &l.up, l.h, l.r, l.out, 1.0);
    let mid = reference::matmul(&l.x, &l.sdown, None, l.t, l.r, l.h, Activation::None);
    let shared = reference::matmul(&mid, &l.sup, None, l.t, l.out, l.r, Activation::None);
    let y = (0..l.t * l.out).map(|i| l.y0[i] + routed[i] + shared[i]).collect();
    (routes, y)
}

fn run(path: Path, l: &Layer, mode: MoeMode) {
    for set in KERNEL_SETS {
            run_on(gpu_kernels(path, set), path, l, mode);
    }
}

fn run_on(gpu: &Gpu, path: Path, l: &Layer, mode: MoeMode) {
    let experts = MoeExperts {
        experts: l.e,
        rank: l.r,
        dim_in: l.h,
        dim_out: l.out,
        down: lin(gpu, &l.down, l.e * l.r, l.h),
        up: lin(gpu, &l.up, l.e * l.out, l.r),
        shared_down: lin(gpu, &l.sdown, l.r, l.h),
        shared_up: lin(gpu, &l.sup, l.out, l.r),
        gate: lin(gpu, &l.gate, l.e, l.h),
    };
    let task = gpu.upload_f32(&l.task, &[l.e]).unwrap();
    let xt = gpu.upload_act(&l.x, &[l.t, l.h], act_dtype(path)).unwrap();
    let yt = gpu.upload_act(&l.y0, &[l.t, l.out], act_dtype(path)).unwrap();
    let routing = ops::moe_lora(gpu, Mat::of(&xt), &experts, &task, Mat::of(&yt), mode).unwrap();
    let (routes, want) = reference(l);
    let sel = gpu.read_u32(&routing.sel).unwrap();
    let wgt = gpu.read_f32(&routing.weights).unwrap();
    let counts = gpu.read_u32(&routing.counts).unwrap();
    for (t, r) in routes.iter().enumerate() {
        assert_eq!([sel[2 * t], sel[2 * t + 1]], r.experts, "token {t} experts");
        assert!((wgt[2 * t] - r.weights[0]).abs() < 1e-5 && (wgt[2 * t + 1] - r.weights[1]).abs() < 1e-5, "token {t} weights");
        assert!(r.weights[0] + r.weights[1] < 1.0, "top-2 weights are not renormalised");
    }
    assert_eq!(counts.iter().sum::<u32>() as usize, 2 * l.t, "every token reaches two experts");
    // mid and slot buffers are stored in the path's precision too
    let kernels = kernels_of(gpu);
    assert_close(&format!("moe ({kernels:?}) {mode:?} T={}", l.t), &gpu.read_f32(&yt).unwrap(), &round(path, &want), 2.0 * tolerance(path));
}

both_paths!(moe_sparse_f32, moe_sparse_f16, |p| {
    for (i, t) in [1, 37, 200].into_iter().enumerate() {
        run(p, &layer(p, t, 10 + i as u64), MoeMode::Sparse);
    }
});

both_paths!(moe_dense_f32, moe_dense_f16, |p| {
    run(p, &layer(p, 37, 20), MoeMode::Dense);
});

#[test]
fn top_k_gating() {
    // Many tokens with a strong task bias: most route to the same experts; counts match.
    let path = Path::F32;
    let mut l = layer(path, 300, 30);
    l.task = (0..l.e).map(|e| if e == 3 { 6.0 } else if e == 7 { 5.0 } else { 0.0 }).collect();
    run(path, &l, MoeMode::Sparse);
}

#[test]
fn moe_sparse_skips_unrouted_experts() {
    // Every token routes to experts 3 and 7; the other experts' weights are NaN. Sparse
    // dispatch never touches them (the output is finite and matches the two-expert
    // reference); a dense evaluation would turn every output NaN.
    let path = Path::F32;
    let mut l = layer(path, 150, 40);
    l.task = (0..l.e).map(|e| if e == 3 { 30.0 } else if e == 7 { 20.0 } else { 0.0 }).collect();
    let (routes, want) = reference(&l);
    assert!(routes.iter().all(|r| r.experts == [3, 7]));
    for e in (0..l.e).filter(|&e| e != 3 && e != 7) {
        l.down[e * l.r * l.h..(e + 1) * l.r * l.h].fill(f32::NAN);
        l.up[e * l.out * l.r..(e + 1) * l.out * l.r].fill(f32::NAN);
    }
    for set in KERNEL_SETS {
        let gpu = gpu_kernels(path, set);
        let experts = MoeExperts {
            experts: l.e,
            rank: l.r,
            dim_in: l.h,
            dim_out: l.out,
            down: lin(gpu, &l.down, l.e * l.r, l.h),
            up: lin(gpu, &l.up, l.e * l.out, l.r),
            shared_down: lin(gpu, &l.sdown, l.r, l.h),
            shared_up: lin(gpu, &l.sup, l.out, l.r),
            gate: lin(gpu, &l.gate, l.e, l.h),
        };
        let task = gpu.upload_f32(&l.task, &[l.e]).unwrap();
        let xt = gpu.upload_act(&l.x, &[l.t, l.h], act_dtype(path)).unwrap();
        let yt = gpu.upload_act(&l.y0, &[l.t, l.out], act_dtype(path)).unwrap();
        let routing = ops::moe_lora(gpu, Mat::of(&xt), &experts, &task, Mat::of(&yt), MoeMode::Sparse).unwrap();
        let counts = gpu.read_u32(&routing.counts).unwrap();
        assert_eq!(counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(e, _)| e).collect::<Vec<_>>(), vec![3, 7]);
        assert_close(&format!("sparse MoE ({set:?}) with NaN in unrouted experts"), &gpu.read_f32(&yt).unwrap(), &want, 2.0 * tolerance(path));
    }
}
