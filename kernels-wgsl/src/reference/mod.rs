//! CPU references of every kernel: plain loops with f64 accumulation. They define what the
//! kernels must compute and are the oracle of the GPU tests. Host-side parts of kernels
//! (frequency tables) live here too, so runtime and tests share one definition.

mod attention;
mod conv;
mod elementwise;
mod linear;
mod moe;
mod norm;
mod rope;
mod sampler;

pub use attention::{attention, AttentionShape, MaskedRows};
pub use conv::{conv2d, group_norm, upsample2x, Conv2dShape};
pub use elementwise::{activate, argmax, binary, gated_residual, mean_rows, softmax, swiglu, Activation, BinaryOp};
pub use linear::matmul;
pub use moe::{moe_dense, top2, Top2};
pub use norm::{layer_norm, layer_norm_modulate, rms_norm};
pub use rope::{rope_flux, rope_flux_freqs, rope_half, rope_half_freqs};
pub use sampler::{euler_step, timestep_embedding, timestep_freqs};
