//! X2Edit Edge runtime: the GPU layer over wgpu, one typed launcher per kernel family, the
//! X2Edit models and the edit pipeline.

pub mod clock;
pub mod edit;
pub mod error;
pub mod gpu;
pub mod model;
pub mod ops;
pub mod sampler;
pub mod text;
pub mod weights;

pub use error::{Error, Result};
pub use gpu::{DType, Gpu, GpuOptions, Precision, Tensor};
pub use weights::Weights;
