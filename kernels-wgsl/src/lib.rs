//! X2Edit Edge kernels: the WGSL sources (one file per op family plus shared includes),
//! the registry of every kernel and variant, the GPU block layout of quantized weights,
//! and the CPU reference of every op (the oracle the GPU tests compare against).
//! Nothing here knows about devices: `runtime` compiles these sources through wgpu.

pub mod layout;
pub mod reference;
mod registry;
mod source;

pub use reference::BinaryOp;
pub use registry::{Act, Family, Kernel, Variant, WeightFormat};
pub use source::{source, SourceError};

/// Activation functions fused into kernels (the `act` codes of common.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    None = 0,
    GeluTanh = 1,
    GeluErf = 2,
    Silu = 3,
}

/// Matmul output tile edge (rows per workgroup); the MoE offsets pad expert lists to it, so it
/// must stay a multiple of `MATMUL_SG_TILE.0`.
pub const MATMUL_TILE: u32 = 32;
/// Smallest subgroup the subgroup kernels (`Family::needs_subgroups`) work with: they share a
/// 32-wide block of k across 8 lanes.
pub const MIN_SUBGROUP: u32 = 8;
/// Rows and columns per workgroup of `Kernel::MatmulSubgroup`.
pub const MATMUL_SG_TILE: (u32, u32) = (16, 256);
const _: () = assert!(MATMUL_TILE.is_multiple_of(MATMUL_SG_TILE.0));
/// Head-dim classes of the attention kernel (a variant's `width`).
pub const ATTENTION_WIDTHS: [u32; 5] = [32, 64, 128, 256, 512];
/// Widest head dim class of `Kernel::AttentionSubgroup` (wider heads run the portable kernel).
pub const ATTENTION_SG_MAX_WIDTH: u32 = 512;
