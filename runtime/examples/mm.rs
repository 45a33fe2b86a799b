//! Quick matmul timing while tuning kernels: `cargo run --release --example mm -- f32 256 256 1024`.
use std::time::Instant;
use x2edit_kernels::{Activation, WeightFormat};
use x2edit_runtime::ops::{self, Linear, Mat};
use x2edit_runtime::{DType, Gpu, GpuOptions, Precision};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (m, n, k): (usize, usize, usize) = (a[2].parse().unwrap(), a[3].parse().unwrap(), a[4].parse().unwrap());
    let prec = if a.get(5).map(|s| s.as_str()) == Some("f16") { Precision::F16 } else { Precision::F32 };
    let gpu = Gpu::new(GpuOptions { precision: Some(prec), ..Default::default() }).unwrap();
    if a[1] == "dispatch" {
        let y = gpu.alloc(&[64], DType::F32).unwrap();
        gpu.fill_u32(&y, 1).unwrap();
        gpu.sync().unwrap();
        let t = Instant::now();
        for _ in 0..m {
            gpu.fill_u32(&y, 7).unwrap();
        }
        gpu.sync().unwrap();
        println!("{m} tiny dispatches: {:.3} ms each", t.elapsed().as_secs_f64() * 1e3 / m as f64);
        return;
    }
    if a[1] == "copy" {
        let x = gpu.upload_f32(&vec![1.0; m * n], &[m, n]).unwrap();
        let y = gpu.alloc(&[m, n], DType::F32).unwrap();
        ops::map(&gpu, Mat::of(&x), Mat::of(&y), ops::MapOp::Copy).unwrap();
        gpu.sync().unwrap();
        let t = Instant::now();
        for _ in 0..5 {
            ops::map(&gpu, Mat::of(&x), Mat::of(&y), ops::MapOp::Copy).unwrap();
        }
        gpu.sync().unwrap();
        let s = t.elapsed().as_secs_f64() / 5.0;
        println!("copy {m}x{n}: {:.2} ms, {:.2} GB/s", s * 1e3, (8 * m * n) as f64 / s / 1e9);
        let t = Instant::now();
        for _ in 0..5 {
            gpu.fill_u32(&y, 7).unwrap();
        }
        gpu.sync().unwrap();
        let s = t.elapsed().as_secs_f64() / 5.0;
        println!("fill {m}x{n}: {:.2} ms, {:.2} GB/s", s * 1e3, (4 * m * n) as f64 / s / 1e9);
        return;
    }
    let fmt = WeightFormat::ALL.iter().copied().find(|f| f.name() == a[1]).unwrap();
    assert!(fmt.is_float(), "float formats only here");
    let bytes = vec![0x3cu8; n * k * if fmt == WeightFormat::F32 { 4 } else { 2 }];
    let w = Linear { weight: gpu.upload(&bytes, &[n, k], DType::Weight(fmt)).unwrap(), bias: None, n, k };
    let x = gpu.upload_act(&vec![0.01; m * k], &[m, k], DType::act(gpu.act())).unwrap();
    let y = gpu.alloc(&[m, n], DType::act(gpu.act())).unwrap();
    ops::matmul(&gpu, Mat::of(&x), &w, Mat::of(&y), Activation::None, false).unwrap();
    gpu.sync().unwrap();
    let t = Instant::now();
    let runs = 3;
    for _ in 0..runs {
        ops::matmul(&gpu, Mat::of(&x), &w, Mat::of(&y), Activation::None, false).unwrap();
        gpu.sync().unwrap();
    }
    let s = t.elapsed().as_secs_f64() / runs as f64;
    println!("{} {m}x{n}x{k} {:?}: {:.1} ms, {:.2} GFLOP/s", fmt.name(), prec, s * 1e3, 2.0 * (m * n * k) as f64 / s / 1e9);
}
