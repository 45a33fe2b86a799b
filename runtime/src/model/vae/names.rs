//! Checkpoint naming. The blocks ask for tensors by their BFL `ae.safetensors` names (which
//! our GGUF keeps); a diffusers `AutoencoderKL` file is read through
//! `x2edit_quantize::names::vae`'s map. A prefix (`vae.`, `first_stage_model.` in all-in-one
//! files) is found from where `encoder.conv_in.weight` sits.

use crate::error::{Error, Result};
use crate::weights::Weights;
use x2edit_quantize::names::vae;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// BFL / LDM names (`encoder.down.0.block.0.conv1`), also our GGUF.
    Bfl,
    /// diffusers names (`encoder.down_blocks.0.resnets.0.conv1`).
    Diffusers,
}

pub struct Names {
    pub layout: Layout,
    pub prefix: String,
    pub levels: usize,
    /// Tensor names without the prefix.
    all: Vec<String>,
}

impl Names {
    pub fn detect(w: &Weights) -> Result<Names> {
        let anchor = "encoder.conv_in.weight";
        let prefix = w
            .checkpoint()
            .tensors()
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| n.ends_with(anchor))
            .min_by_key(|n| n.len())
            .map(|n| n[..n.len() - anchor.len()].to_string())
            .ok_or_else(|| Error::invalid(w.label(), format!("not a VAE: no tensor '{anchor}'")))?;
        let all: Vec<String> = w.checkpoint().tensors().iter().filter_map(|t| t.name.strip_prefix(&prefix)).map(str::to_string).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let layout = if vae::is_diffusers(&refs) {
            Layout::Diffusers
        } else if vae::is_bfl(&refs) {
            Layout::Bfl
        } else {
            return Err(Error::invalid(w.label(), "VAE tensors follow neither BFL (encoder.down.N.block) nor diffusers (encoder.down_blocks.N.resnets) naming"));
        };
        Ok(Names { layout, levels: vae::levels(&refs), prefix, all })
    }

    /// The checkpoint name (prefix included) of a tensor given by its BFL name. Names outside
    /// the map (a level that does not exist) come back unchanged, so the lookup that follows
    /// reports them missing.
    pub fn get(&self, bfl: &str) -> String {
        let name = match self.layout {
            Layout::Bfl => bfl.to_string(),
            Layout::Diffusers => vae::bfl_to_diffusers_name(bfl, self.levels).map(|(n, _)| n).unwrap_or_else(|| bfl.to_string()),
        };
        format!("{}{name}", self.prefix)
    }

    /// Blocks under a BFL prefix such as `encoder.down.0.block.` (1 + the largest index).
    pub fn count(&self, bfl_prefix: &str) -> usize {
        (0..)
            .take_while(|j| {
                let probe = self.get(&format!("{bfl_prefix}{j}.conv1.weight"));
                self.all.iter().any(|n| format!("{}{n}", self.prefix) == probe)
            })
            .count()
    }
}
