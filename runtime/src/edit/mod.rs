//! The edit pipeline: image preprocessing, seeded noise, the models of one edit and the
//! Editor that runs the stages in order.

pub mod image;
pub mod demo;
mod models;
pub mod noise;
mod pipeline;

pub use image::{Image, SizeMode};
pub use models::{ModelPaths, ModelSet};
pub use pipeline::{edit, EditOutput, EditRequest, Progress, Stage};
