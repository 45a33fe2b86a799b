//! FLUX VAE: BFL `ae.safetensors` names (what our GGUF uses) <-> diffusers `AutoencoderKL` names.
//! The decoder's level order is reversed (`up.{L-1-i}` <-> `up_blocks.i`), and the mid-block
//! attention's q/k/v/proj_out are [C,C,1,1] 1x1 convs in BFL but [C,C] linears in diffusers.

use super::{count_blocks, Planned};
use crate::error::Result;
use crate::types::TensorInfo;

pub fn is_bfl(names: &[&str]) -> bool {
    names.contains(&"encoder.conv_in.weight") && names.iter().any(|n| n.starts_with("encoder.down.") || n.starts_with("decoder.up."))
}

pub fn is_diffusers(names: &[&str]) -> bool {
    names.contains(&"encoder.conv_in.weight") && names.iter().any(|n| n.starts_with("encoder.down_blocks."))
}

/// Levels of the encoder/decoder (len(ch_mult)).
pub fn levels(names: &[&str]) -> usize {
    count_blocks(names.iter().copied(), "encoder.down.").max(count_blocks(names.iter().copied(), "encoder.down_blocks."))
}

const ATTN: [(&str, &str); 5] = [("norm", "group_norm"), ("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")];
const RESNET: [(&str, &str); 5] = [("norm1", "norm1"), ("conv1", "conv1"), ("norm2", "norm2"), ("conv2", "conv2"), ("nin_shortcut", "conv_shortcut")];

fn swap_part<'a>(table: &'a [(&'a str, &'a str)], part: &str, to_diffusers: bool) -> Option<&'a str> {
    table.iter().find_map(|(b, d)| if to_diffusers { (*b == part).then_some(*d) } else { (*d == part).then_some(*b) })
}

/// BFL -> diffusers name; `true` when the tensor is a mid-attention weight that changes rank.
pub fn bfl_to_diffusers_name(name: &str, levels: usize) -> Option<(String, bool)> {
    let (side, rest) = name.split_once('.')?;
    if side != "encoder" && side != "decoder" {
        return (name == "quant_conv.weight" || name.starts_with("quant_conv.") || name.starts_with("post_quant_conv.")).then(|| (name.to_string(), false));
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let param = *parts.last()?;
    let mapped: String = match parts.as_slice() {
        ["conv_in", ..] | ["conv_out", ..] => rest.to_string(),
        ["norm_out", _] => format!("conv_norm_out.{param}"),
        ["mid", blk, _] if blk.starts_with("block_") => {
            let i: usize = blk.strip_prefix("block_")?.parse().ok()?;
            format!("mid_block.resnets.{}.{}", i.checked_sub(1)?, param)
        }
        ["mid", blk, sub, _] if blk.starts_with("block_") => {
            let i: usize = blk.strip_prefix("block_")?.parse().ok()?;
            format!("mid_block.resnets.{}.{}.{}", i.checked_sub(1)?, swap_part(&RESNET, sub, true)?, param)
        }
        ["mid", "attn_1", sub, _] => {
            let d = swap_part(&ATTN, sub, true)?;
            let name = format!("{side}.mid_block.attentions.0.{d}.{param}");
            return Some((name, *sub != "norm" && param == "weight"));
        }
        ["down", i, "block", j, sub, _] if side == "encoder" => format!("down_blocks.{i}.resnets.{j}.{}.{param}", swap_part(&RESNET, sub, true)?),
        ["down", i, "downsample", "conv", _] if side == "encoder" => format!("down_blocks.{i}.downsamplers.0.conv.{param}"),
        ["up", i, "block", j, sub, _] if side == "decoder" => {
            let i: usize = i.parse().ok()?;
            format!("up_blocks.{}.resnets.{j}.{}.{param}", levels.checked_sub(1 + i)?, swap_part(&RESNET, sub, true)?)
        }
        ["up", i, "upsample", "conv", _] if side == "decoder" => {
            let i: usize = i.parse().ok()?;
            format!("up_blocks.{}.upsamplers.0.conv.{param}", levels.checked_sub(1 + i)?)
        }
        _ => return None,
    };
    Some((format!("{side}.{mapped}"), false))
}

/// diffusers -> BFL name; `true` when the tensor is a mid-attention weight that changes rank.
pub fn diffusers_to_bfl_name(name: &str, levels: usize) -> Option<(String, bool)> {
    let (side, rest) = name.split_once('.')?;
    if side != "encoder" && side != "decoder" {
        return (name.starts_with("quant_conv.") || name.starts_with("post_quant_conv.")).then(|| (name.to_string(), false));
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let param = *parts.last()?;
    let mapped: String = match parts.as_slice() {
        ["conv_in", ..] | ["conv_out", ..] => rest.to_string(),
        ["conv_norm_out", _] => format!("norm_out.{param}"),
        ["mid_block", "resnets", i, sub, _] => {
            let i: usize = i.parse().ok()?;
            format!("mid.block_{}.{}.{param}", i + 1, swap_part(&RESNET, sub, false)?)
        }
        ["mid_block", "attentions", "0", sub, _] | ["mid_block", "attentions", "0", sub, "0", _] => {
            let sub = if parts.len() == 6 { format!("{sub}.0") } else { sub.to_string() };
            let b = swap_part(&ATTN, &sub, false)?;
            return Some((format!("{side}.mid.attn_1.{b}.{param}"), b != "norm" && param == "weight"));
        }
        ["down_blocks", i, "resnets", j, sub, _] if side == "encoder" => format!("down.{i}.block.{j}.{}.{param}", swap_part(&RESNET, sub, false)?),
        ["down_blocks", i, "downsamplers", "0", "conv", _] if side == "encoder" => format!("down.{i}.downsample.conv.{param}"),
        ["up_blocks", i, "resnets", j, sub, _] if side == "decoder" => {
            let i: usize = i.parse().ok()?;
            format!("up.{}.block.{j}.{}.{param}", levels.checked_sub(1 + i)?, swap_part(&RESNET, sub, false)?)
        }
        ["up_blocks", i, "upsamplers", "0", "conv", _] if side == "decoder" => {
            let i: usize = i.parse().ok()?;
            format!("up.{}.upsample.conv.{param}", levels.checked_sub(1 + i)?)
        }
        _ => return None,
    };
    Some((format!("{side}.{mapped}"), false))
}

/// Plans one direction; `to_conv` says whether rank-changing weights become [C,C,1,1].
fn map_all(tensors: &[TensorInfo], f: fn(&str, usize) -> Option<(String, bool)>, to_conv: bool) -> Result<super::flux::Mapped> {
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let lv = levels(&names);
    let mut planned = Vec::new();
    let mut unmapped = Vec::new();
    for t in tensors {
        match f(&t.name, lv) {
            Some((n, true)) => {
                let c = t.shape.first().copied().unwrap_or(0);
                let shape = if to_conv { vec![c, t.n_elems() / c.max(1), 1, 1] } else { vec![c, t.n_elems() / c.max(1)] };
                planned.push(Planned::reshaped(n, t, shape)?);
            }
            Some((n, false)) => planned.push(Planned::direct(n, t)),
            None => unmapped.push(t.name.clone()),
        }
    }
    Ok(super::flux::Mapped { planned, unmapped })
}

pub fn from_diffusers(tensors: &[TensorInfo]) -> Result<super::flux::Mapped> {
    map_all(tensors, diffusers_to_bfl_name, true)
}

pub fn to_diffusers(tensors: &[TensorInfo]) -> Result<super::flux::Mapped> {
    map_all(tensors, bfl_to_diffusers_name, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vae_names_map_both_ways() {
        let cases = [
            ("encoder.down.1.block.0.nin_shortcut.weight", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight", false),
            ("encoder.down.0.downsample.conv.bias", "encoder.down_blocks.0.downsamplers.0.conv.bias", false),
            ("encoder.mid.block_2.norm1.weight", "encoder.mid_block.resnets.1.norm1.weight", false),
            ("decoder.mid.attn_1.proj_out.weight", "decoder.mid_block.attentions.0.to_out.0.weight", true),
            ("decoder.mid.attn_1.norm.weight", "decoder.mid_block.attentions.0.group_norm.weight", false),
            ("decoder.mid.attn_1.q.bias", "decoder.mid_block.attentions.0.to_q.bias", false),
            ("decoder.up.3.block.2.conv1.weight", "decoder.up_blocks.0.resnets.2.conv1.weight", false),
            ("decoder.up.1.upsample.conv.weight", "decoder.up_blocks.2.upsamplers.0.conv.weight", false),
            ("decoder.norm_out.bias", "decoder.conv_norm_out.bias", false),
            ("encoder.conv_out.weight", "encoder.conv_out.weight", false),
        ];
        for (b, d, reshape) in cases {
            assert_eq!(bfl_to_diffusers_name(b, 4), Some((d.to_string(), reshape)), "{b}");
            assert_eq!(diffusers_to_bfl_name(d, 4), Some((b.to_string(), reshape)), "{d}");
        }
        assert_eq!(bfl_to_diffusers_name("decoder.up.4.block.0.conv1.weight", 4), None, "level out of range");
    }
}
