//! Shared test harness: seeded random data, one poisoned GPU per precision path, and
//! comparisons that fail on NaN and state their tolerance.
#![allow(dead_code)]

pub mod fixtures;

use std::sync::OnceLock;
use x2edit_runtime::{DType, Gpu, GpuOptions, Precision};

/// xorshift64* — deterministic test data without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32() * scale).collect()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The two precision paths every kernel test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    F32,
    F16,
}

/// Which kernels a device runs where both exist: the subgroup kernels (CI's lavapipe has
/// subgroups of 8) or the portable ones every adapter runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    Subgroup,
    Portable,
}

pub const KERNEL_SETS: [Kernels; 2] = [Kernels::Subgroup, Kernels::Portable];

fn open(p: Precision, max_binding: Option<u64>) -> Gpu {
    open_with(p, max_binding, Kernels::Subgroup)
}

fn open_with(p: Precision, max_binding: Option<u64>, set: Kernels) -> Gpu {
    let mut o = GpuOptions::from_env().expect("X2EDIT_* environment");
    o.precision = Some(p);
    o.poison = true;
    o.portable = set == Kernels::Portable;
    if max_binding.is_some() {
        o.max_binding = max_binding;
    }
    Gpu::new(o).unwrap_or_else(|e| panic!("opening the GPU ({p:?}): {e}"))
}

/// The shared GPU of a path (f32 forced, or f16). Panics when the adapter lacks f16: CI's
/// lavapipe has it, and a silently skipped f16 path would hide bugs.
pub fn gpu(path: Path) -> &'static Gpu {
    static F32: OnceLock<Gpu> = OnceLock::new();
    static F16: OnceLock<Gpu> = OnceLock::new();
    match path {
        Path::F32 => F32.get_or_init(|| open(Precision::F32, None)),
        Path::F16 => F16.get_or_init(|| open(Precision::F16, None)),
    }
}

/// The shared GPU of a path running `set`. Panics when the subgroup set is asked of an adapter
/// without subgroups (CI's lavapipe has them; a silently skipped set would hide bugs).
pub fn gpu_kernels(path: Path, set: Kernels) -> &'static Gpu {
    static PORTABLE_F32: OnceLock<Gpu> = OnceLock::new();
    static PORTABLE_F16: OnceLock<Gpu> = OnceLock::new();
    let gpu = match (set, path) {
        (Kernels::Subgroup, _) => gpu(path),
        (Kernels::Portable, Path::F32) => PORTABLE_F32.get_or_init(|| open_with(Precision::F32, None, set)),
        (Kernels::Portable, Path::F16) => PORTABLE_F16.get_or_init(|| open_with(Precision::F16, None, set)),
    };
    assert_eq!(gpu.has_subgroup(), set == Kernels::Subgroup, "{set:?} kernels on {}", gpu.adapter());
    gpu
}

/// Which kernel set a device runs, for assertion messages.
pub fn kernels_of(gpu: &Gpu) -> Kernels {
    if gpu.has_subgroup() { Kernels::Subgroup } else { Kernels::Portable }
}

fn precision(path: Path) -> Precision {
    if path == Path::F16 { Precision::F16 } else { Precision::F32 }
}

/// A private GPU with a forced small binding limit (for chunking tests).
pub fn gpu_with_binding_limit(path: Path, bytes: u64) -> Gpu {
    open(precision(path), Some(bytes))
}

/// As `gpu_with_binding_limit`, running `set`.
pub fn gpu_with_binding_limit_kernels(path: Path, bytes: u64, set: Kernels) -> Gpu {
    open_with(precision(path), Some(bytes), set)
}

/// Tolerances (relative L2 error and max error relative to the largest reference value):
/// the f32 path computes in f32 against an f64 reference; the f16 path also stores inputs and
/// outputs in f16 (unit roundoff 4.9e-4), so the reference sees the same rounded inputs.
pub fn tolerance(path: Path) -> f32 {
    match path {
        Path::F32 => 2e-5,
        Path::F16 => 3e-3,
    }
}

/// Rounds values as the path stores activations.
pub fn round(path: Path, v: &[f32]) -> Vec<f32> {
    match path {
        Path::F32 => v.to_vec(),
        Path::F16 => v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect(),
    }
}

pub fn act_dtype(path: Path) -> DType {
    match path {
        Path::F32 => DType::F32,
        Path::F16 => DType::F16,
    }
}

/// Fails on any non-finite output (poisoned, unwritten elements are NaN) and on errors
/// beyond `tol`; prints the measured errors.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().position(|v| !v.is_finite()) {
        panic!("{what}: non-finite output {} at index {i} of {}", got[i], got.len());
    }
    let scale = want.iter().fold(0f64, |a, &b| a.max(b.abs() as f64)).max(1e-30);
    let mut max_err = 0f64;
    let mut at = 0;
    let (mut num, mut den) = (0f64, 0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g as f64 - w as f64).abs();
        if e > max_err {
            max_err = e;
            at = i;
        }
        num += e * e;
        den += w as f64 * w as f64;
    }
    let rel_l2 = (num / den.max(1e-60)).sqrt();
    let rel_max = max_err / scale;
    assert!(
        rel_l2 <= tol as f64 && rel_max <= 4.0 * tol as f64,
        "{what}: rel L2 {rel_l2:.3e}, max err {max_err:.3e} (rel {rel_max:.3e}) at {at} (got {} want {}), tolerance {tol:.1e}",
        got[at],
        want[at]
    );
}

/// `both_paths!(name_f32, name_f16, |path| ...)`: one test per precision path.
#[macro_export]
macro_rules! both_paths {
    ($f32:ident, $f16:ident, $body:expr) => {
        #[test]
        fn $f32() {
            ($body)($crate::common::Path::F32)
        }
        #[test]
        fn $f16() {
            ($body)($crate::common::Path::F16)
        }
    };
}
