//! The X2Edit transformer: FLUX.1 DiT with the cond stream and task-aware MoE-LoRA.

mod common;
mod config;
mod double;
mod embed;
mod final_layer;
mod model;
mod names;
mod plan;
mod single;
pub mod synthetic;

pub use config::{FluxConfig, Preset};
pub use model::{Edit, EditInputs, FluxModel, FluxOptions};
pub use names::{FluxWeights, Naming};
pub use plan::{plan, MemoryPlan, PlanWeights};
