//! The edit pipeline: image preprocessing, seeded noise, the models of one edit and the
//! Editor that runs the stages in order.

pub mod image;
pub mod demo;
mod models;
pub mod noise;
mod pipeline;

pub use image::{Image, SizeMode};
pub use models::{ModelPaths, ModelSet};
#[cfg(not(target_arch = "wasm32"))]
pub use pipeline::edit;
pub use pipeline::{edit_async, EditOutput, EditRequest, Progress, Stage};
