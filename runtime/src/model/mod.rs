//! The X2Edit models on our kernels, one struct per reference block, named like the
//! checkpoint keys; one implementation for float and quantized weights.

pub mod adapter;
pub mod alignnet;
pub mod flux;
pub mod qwen;
pub mod rng;
pub mod vae;
