//! Kernel throughput. Each matmul result is spot-checked against the CPU so a figure never
//! comes from a kernel that silently stopped early (lavapipe cuts loops at 65535 iterations).

use super::{header, time_runs};
use crate::GpuArgs;
use x2edit_kernels::reference::MaskedRows;
use x2edit_kernels::{layout, Activation, WeightFormat};
use x2edit_quantize::codec;
use x2edit_runtime::weights::ggml_type;
use x2edit_runtime::ops::{self, AttentionArgs, Linear, Mat, MoeExperts, MoeMode};
use x2edit_runtime::model::rng::Rng;
use x2edit_runtime::{DType, Error, Gpu, Result};

fn weight(gpu: &Gpu, f: WeightFormat, n: usize, k: usize, rng: &mut Rng) -> Result<(Linear, Vec<f32>)> {
    let ty = ggml_type(f);
    let row_bytes = ty.row_bytes(k)?;
    let proto: Vec<Vec<u8>> = (0..16)
        .map(|_| {
            let mut b = vec![0u8; row_bytes];
            codec::quantize_row(ty, &rng.vec(k, 0.05), &mut b).map(|_| b)
        })
        .collect::<std::result::Result<_, _>>()?;
    let mut bytes = Vec::with_capacity(n * row_bytes);
    for r in 0..n {
        bytes.extend_from_slice(&proto[r % 16]);
    }
    let mut first = vec![0f32; 4 * k];
    for r in 0..4 {
        codec::dequantize_row(ty, &proto[r], &mut first[r * k..(r + 1) * k])?;
    }
    let packed = layout::repack(f, &bytes).map_err(|e| Error::invalid("bench weight", e.to_string()))?;
    let w = gpu.upload(&packed, &[n, k], DType::Weight(f))?;
    Ok((Linear { weight: w, bias: None, n, k }, first))
}

fn matmul_case(gpu: &Gpu, f: WeightFormat, m: usize, n: usize, k: usize, budget: f64) -> Result<()> {
    let mut rng = Rng(0x1234_5678 ^ (n * k) as u64);
    let (lin, w4) = weight(gpu, f, n, k, &mut rng)?;
    let x = rng.vec(m * k, 1.0);
    let act = DType::act(gpu.act());
    let xt = gpu.upload_act(&x, &[m, k], act)?;
    let y = gpu.alloc(&[m, n], act)?;
    let warm = || ops::matmul(gpu, Mat::of(&xt).rows(0, 1), &lin, Mat::of(&y).rows(0, 1), Activation::None, false);
    let secs = time_runs(gpu, budget, 5, warm, || ops::matmul(gpu, Mat::of(&xt), &lin, Mat::of(&y), Activation::None, false))?;
    // spot check y[0..2, 0..4]
    let got = gpu.read_f32(&y)?;
    let mut worst = 0f64;
    for r in 0..2.min(m) {
        for c in 0..4 {
            let want: f64 = (0..k).map(|i| x[r * k + i] as f64 * w4[c * k + i] as f64).sum();
            worst = worst.max((got[r * n + c] as f64 - want).abs() / want.abs().max(0.05));
        }
    }
    let flops = 2.0 * (m * n * k) as f64;
    let bytes = lin.weight.byte_len() as f64 + (m * k + m * n) as f64 * act.bytes_for(1) as f64;
    let ok = if worst < 0.05 { "ok" } else { "MISMATCH" };
    println!(
        "matmul  {:<5} M={m:<5} N={n:<6} K={k:<6} {:>9.2} ms {:>8.2} GFLOP/s {:>7.2} GB/s  check {ok} ({worst:.1e})",
        f.name(),
        secs * 1e3,
        flops / secs / 1e9,
        bytes / secs / 1e9
    );
    Ok(())
}

fn attention_case(gpu: &Gpu, heads: usize, d: usize, l: usize, budget: f64) -> Result<()> {
    let mut rng = Rng(77);
    let act = DType::act(gpu.act());
    let q = gpu.upload_act(&rng.vec(l * heads * d, 1.0), &[l, heads * d], act)?;
    let out = gpu.alloc(&[l, heads * d], act)?;
    let args = AttentionArgs {
        q: Mat::of(&q),
        k: Mat::of(&q),
        v: Mat::of(&q),
        out: Mat::of(&out),
        heads,
        kv_heads: heads,
        dim: d,
        scale: 1.0 / (d as f32).sqrt(),
        causal: false,
        key_mask: None,
        masked_rows: MaskedRows::Unmask,
    };
    let small = AttentionArgs { q: args.q.rows(0, 64), k: args.k.rows(0, 64), v: args.v.rows(0, 64), out: args.out.rows(0, 64), ..args };
    let secs = time_runs(gpu, budget, 3, || ops::attention(gpu, &small), || ops::attention(gpu, &args))?;
    let finite = gpu.read_f32(&out)?.iter().all(|v| v.is_finite());
    let flops = 4.0 * (heads * l * l * d) as f64;
    println!(
        "attention heads={heads} d={d} L={l:<5}          {:>9.2} ms {:>8.2} GFLOP/s  memory {} bytes (no L x L)  finite {finite}",
        secs * 1e3,
        flops / secs / 1e9,
        3 * l * heads * d * act.bytes_for(1) as usize
    );
    Ok(())
}

fn row_ops(gpu: &Gpu, rows: usize, width: usize, budget: f64) -> Result<()> {
    let mut rng = Rng(5);
    let act = DType::act(gpu.act());
    let x = gpu.upload_f32(&rng.vec(rows * width, 1.0), &[rows, width])?;
    let m = gpu.upload_f32(&rng.vec(6 * width, 0.1), &[6 * width])?;
    let y = gpu.alloc(&[rows, width], act)?;
    let secs = time_runs(gpu, budget, 5, || Ok(()), || ops::layer_norm_modulate(gpu, Mat::of(&x), Mat::of(&y), (&m, width), (&m, 0), 1e-6))?;
    let bytes = (rows * width) as f64 * (4.0 + act.bytes_for(1) as f64);
    println!("layer_norm_modulate [{rows}, {width}]            {:>9.2} ms {:>17.2} GB/s", secs * 1e3, bytes / secs / 1e9);
    let secs = time_runs(gpu, budget, 5, || Ok(()), || ops::gated_residual(gpu, Mat::of(&x), Mat::of(&y), Some((&m, 0))))?;
    println!("gated_residual [{rows}, {width}]                 {:>9.2} ms {:>17.2} GB/s", secs * 1e3, (rows * width) as f64 * 10.0 / secs / 1e9);
    Ok(())
}

fn moe_case(gpu: &Gpu, t: usize, h: usize, budget: f64) -> Result<()> {
    let mut rng = Rng(9);
    let (e, r) = (12, 64);
    let f = WeightFormat::F16;
    let experts = MoeExperts {
        experts: e,
        rank: r,
        dim_in: h,
        dim_out: h,
        down: weight(gpu, f, e * r, h, &mut rng)?.0,
        up: weight(gpu, f, e * h, r, &mut rng)?.0,
        shared_down: weight(gpu, f, r, h, &mut rng)?.0,
        shared_up: weight(gpu, f, h, r, &mut rng)?.0,
        gate: weight(gpu, WeightFormat::F32, e, h, &mut rng)?.0,
    };
    let act = DType::act(gpu.act());
    let task = gpu.upload_f32(&rng.vec(e, 1.0), &[e])?;
    let x = gpu.upload_act(&rng.vec(t * h, 1.0), &[t, h], act)?;
    let y = gpu.alloc(&[t, h], act)?;
    for mode in [MoeMode::Sparse, MoeMode::Dense] {
        let warm = || ops::moe_lora(gpu, Mat::of(&x).rows(0, 8), &experts, &task, Mat::of(&y).rows(0, 8), mode).map(|_| ());
        let secs = time_runs(gpu, budget, 3, warm, || ops::moe_lora(gpu, Mat::of(&x), &experts, &task, Mat::of(&y), mode).map(|_| ()))?;
        let useful = 2.0 * 2.0 * (t * h * r) as f64 * 3.0; // two routed experts + shared, down and up
        println!("moe_lora {mode:?} T={t} H={h} E={e} r={r}        {:>9.2} ms {:>8.2} GFLOP/s (useful work)", secs * 1e3, useful / secs / 1e9);
    }
    Ok(())
}

/// A 3x3 same-padded conv (the VAE's resnet conv) on a `side` x `side` map, f16 weights;
/// one output value spot-checked against the CPU.
fn conv_case(gpu: &Gpu, c: usize, side: usize, budget: f64) -> Result<()> {
    let mut rng = Rng(31);
    let act = DType::act(gpu.act());
    let (lin, wv) = weight(gpu, WeightFormat::F16, c, c * 9, &mut rng)?;
    let (weight, xv) = (lin.weight, rng.vec(c * side * side, 1.0));
    let x = gpu.upload_act(&xv, &[c, side, side], act)?;
    let y = gpu.alloc(&[c, side, side], act)?;
    let args = ops::Conv2dArgs { x: &x, x_off: 0, cin: c, h: side, w: side, weight: &weight, w_off: 0, w_co_stride: c * 9, bias: None, y: &y, y_off: 0, cout: c, ks: 3, stride: 1, pad: [1; 4], act: Activation::None, accumulate: false };
    let secs = time_runs(gpu, budget, 3, || ops::conv2d(gpu, &args), || ops::conv2d(gpu, &args))?;
    // y[co = 1, 1, 1]: a full 3x3 window
    let want: f64 = (0..c * 9).map(|i| wv[c * 9 + i] as f64 * xv[(i / 9) * side * side + (i % 9 / 3) * side + i % 3] as f64).sum();
    let got = gpu.read_f32(&y)?[side * side + side + 1] as f64;
    let worst = (got - want).abs() / want.abs().max(0.05);
    let flops = 2.0 * (c * c * 9 * side * side) as f64;
    let ok = if worst < 0.05 { "ok" } else { "MISMATCH" };
    println!("conv3x3 f16   C={c:<4} {side}x{side:<14} {:>9.2} ms {:>8.2} GFLOP/s  check {ok} ({worst:.1e})", secs * 1e3, flops / secs / 1e9);
    Ok(())
}

/// Kernel families `--only` selects.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Family {
    Matmul,
    Attention,
    Rows,
    Moe,
    Conv,
}

pub fn run(args: &GpuArgs, full: bool, only: &[Family], formats: &[String]) -> Result<()> {
    let gpu = args.open()?;
    let wanted = |f: Family| only.is_empty() || only.contains(&f);
    header(&gpu, "kernel benchmark");
    let budget = if full { 1.0 } else { 0.2 };
    let default_formats = [WeightFormat::F16, WeightFormat::Q8_0, WeightFormat::Q4_0, WeightFormat::Q4_K];
    let formats: Vec<WeightFormat> = if formats.is_empty() {
        default_formats.to_vec()
    } else {
        let pick = |name: &str| WeightFormat::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| Error::invalid("--format", format!("'{name}' is not a weight format")));
        formats.iter().map(|s| pick(s)).collect::<Result<_>>()?
    };
    // FLUX.1 linear shapes (K -> N): qkv, proj, mlp in/out, single-block linear1/linear2, modulation
    // The default set (under 2 minutes on lavapipe) has the 3072 -> 3072 projection; --full adds
    // every FLUX linear shape (the 12288-wide MLP included) at 512, 2560 and 8704 tokens.
    let shapes: &[(usize, usize)] = if full {
        &[(3072, 9216), (3072, 3072), (3072, 12288), (12288, 3072), (3072, 21504), (15360, 3072), (3072, 18432)]
    } else {
        &[(3072, 3072)]
    };
    let token_counts: &[usize] = if full { &[512, 2560, 8704] } else { &[512] };
    for &m in token_counts.iter().filter(|_| wanted(Family::Matmul)) {
        for &(k, n) in shapes {
            for &f in &formats {
                matmul_case(&gpu, f, m, n, k, budget)?;
            }
        }
    }
    let lengths: &[usize] = if full { &[1024, 2560, 8704] } else { &[1024] };
    for &l in lengths.iter().filter(|_| wanted(Family::Attention)) {
        attention_case(&gpu, 24, 128, l, budget)?;
    }
    if wanted(Family::Rows) {
        row_ops(&gpu, if full { 8704 } else { 2560 }, 3072, budget)?;
    }
    if wanted(Family::Moe) {
        moe_case(&gpu, if full { 8704 } else { 256 }, 3072, budget)?;
    }
    if wanted(Family::Conv) {
        conv_case(&gpu, 256, if full { 128 } else { 64 }, budget)?;
    }
    println!("peak GPU memory held by the pool: {} bytes", gpu.memory().peak);
    Ok(())
}
