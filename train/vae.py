"""The FLUX VAE: diffusers AutoencoderKL (as X2Edit uses it) plus the BFL `ae.safetensors` (LDM) names.

encode (stage contract): latent = (posterior MEAN - shift_factor) * scaling_factor   (BFL AutoEncoder sample_z=False;
X2Edit itself samples the posterior: see reference/x2edit.md section 1; the fixtures use the mean)
decode: image = decoder(latent / scaling_factor + shift_factor), unclamped in about [-1, 1].
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import torch
from diffusers import AutoencoderKL
from safetensors.torch import load_file, save_file

from .common import randomize_, round_to_
from .configs import VaeConfig

SEED_VAE = 1006


def build_vae(cfg: VaeConfig) -> AutoencoderKL:
    vae = AutoencoderKL(**cfg.diffusers_kwargs())
    randomize_(vae, SEED_VAE)
    round_to_(vae, torch.bfloat16)
    return vae.eval()


class _Src(dict):
    """dict that remembers which keys were read."""

    def __init__(self, *a):
        super().__init__(*a)
        self.used = set()

    def __getitem__(self, k):
        self.used.add(k)
        return super().__getitem__(k)


def _resnet_map(o, sd, src, dst):
    for a, b in (("norm1", "norm1"), ("conv1", "conv1"), ("norm2", "norm2"), ("conv2", "conv2"),
                 ("conv_shortcut", "nin_shortcut")):
        for part in ("weight", "bias"):
            k = f"{src}.{a}.{part}"
            if k in sd:
                o[f"{dst}.{b}.{part}"] = sd[k]


def _attn_map(o, sd, src, dst):
    for a, b in (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")):
        for part in ("weight", "bias"):
            v = sd[f"{src}.{a}.{part}"]
            if part == "weight" and b != "norm":
                v = v[:, :, None, None]  # Linear -> 1x1 conv
            o[f"{dst}.{b}.{part}"] = v


def diffusers_to_bfl_vae(sd: Dict[str, torch.Tensor], num_levels: int) -> Dict[str, torch.Tensor]:
    """diffusers AutoencoderKL names -> BFL/LDM `ae.safetensors` names (encoder.down.i.block.j..., decoder.up.i...)."""
    o: Dict[str, torch.Tensor] = {}
    sd = _Src(sd)
    for side in ("encoder", "decoder"):
        for part in ("weight", "bias"):
            o[f"{side}.conv_in.{part}"] = sd[f"{side}.conv_in.{part}"]
            o[f"{side}.norm_out.{part}"] = sd[f"{side}.conv_norm_out.{part}"]
            o[f"{side}.conv_out.{part}"] = sd[f"{side}.conv_out.{part}"]
        _resnet_map(o, sd, f"{side}.mid_block.resnets.0", f"{side}.mid.block_1")
        _resnet_map(o, sd, f"{side}.mid_block.resnets.1", f"{side}.mid.block_2")
        _attn_map(o, sd, f"{side}.mid_block.attentions.0", f"{side}.mid.attn_1")
    for i in range(num_levels):
        j = 0
        while f"encoder.down_blocks.{i}.resnets.{j}.conv1.weight" in sd:
            _resnet_map(o, sd, f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}")
            j += 1
        for part in ("weight", "bias"):
            k = f"encoder.down_blocks.{i}.downsamplers.0.conv.{part}"
            if k in sd:
                o[f"encoder.down.{i}.downsample.conv.{part}"] = sd[k]
        b = num_levels - 1 - i  # decoder.up_blocks are stored in reverse order
        j = 0
        while f"decoder.up_blocks.{i}.resnets.{j}.conv1.weight" in sd:
            _resnet_map(o, sd, f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{b}.block.{j}")
            j += 1
        for part in ("weight", "bias"):
            k = f"decoder.up_blocks.{i}.upsamplers.0.conv.{part}"
            if k in sd:
                o[f"decoder.up.{b}.upsample.conv.{part}"] = sd[k]
    missing = set(sd.keys()) - sd.used
    assert not missing, f"unmapped VAE keys: {sorted(missing)[:5]}"
    return {k: v.contiguous() for k, v in o.items()}


def write_vae_files(model_dir: str, vae: AutoencoderKL, cfg: VaeConfig):
    vae.to(torch.bfloat16).save_pretrained(os.path.join(model_dir, "vae"), safe_serialization=True)
    vae.float()
    sd = {k: v.to(torch.bfloat16) for k, v in vae.state_dict().items()}
    save_file(diffusers_to_bfl_vae(sd, len(cfg.block_out_channels)), os.path.join(model_dir, "ae.safetensors"))


def load_vae(model_dir: str, source: str = "diffusers", cfg: Optional[VaeConfig] = None) -> AutoencoderKL:
    if source == "diffusers":
        vae = AutoencoderKL.from_pretrained(os.path.join(model_dir, "vae"), torch_dtype=torch.float32)
    elif source == "bfl":
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
        vae = AutoencoderKL(**cfg.diffusers_kwargs())
        bfl = load_file(os.path.join(model_dir, "ae.safetensors"))
        vae.load_state_dict({k: v.float() for k, v in convert_ldm_vae_checkpoint(bfl, vae.config).items()})
    else:
        raise ValueError(source)
    return vae.float().eval()


def _hooks(vae: AutoencoderKL, debug: Dict[str, torch.Tensor], which: str):
    hs = []
    coder = vae.encoder if which == "encoder" else vae.decoder
    n = len(vae.config.block_out_channels)

    def cap(name):
        def f(mod, inp, out):
            debug[name] = (out[0] if isinstance(out, tuple) else out).detach()
        return f

    hs.append(coder.conv_in.register_forward_hook(cap(f"{which}.conv_in")))
    if which == "encoder":
        for i, blk in enumerate(coder.down_blocks):
            hs.append(blk.register_forward_hook(cap(f"encoder.down.{i}")))
    else:
        for i, blk in enumerate(coder.up_blocks):
            hs.append(blk.register_forward_hook(cap(f"decoder.up.{n - 1 - i}")))
    hs.append(coder.mid_block.register_forward_hook(cap(f"{which}.mid")))
    return hs


@torch.no_grad()
def encode_mean(vae: AutoencoderKL, image: torch.Tensor, debug: Optional[Dict[str, torch.Tensor]] = None):
    """image [B,3,H,W] in [-1,1] -> scaled latent mean [B,16,H/8,W/8]."""
    hooks = _hooks(vae, debug, "encoder") if debug is not None else []
    try:
        dist = vae.encode(image).latent_dist
    finally:
        for h in hooks:
            h.remove()
    if debug is not None:
        debug["encoder.moments"] = dist.parameters
    return (dist.mean - vae.config.shift_factor) * vae.config.scaling_factor


@torch.no_grad()
def decode(vae: AutoencoderKL, latent: torch.Tensor, debug: Optional[Dict[str, torch.Tensor]] = None):
    """scaled latent [B,16,h,w] -> image [B,3,8h,8w], unclamped."""
    hooks = _hooks(vae, debug, "decoder") if debug is not None else []
    try:
        z = latent / vae.config.scaling_factor + vae.config.shift_factor
        return vae.decode(z).sample
    finally:
        for h in hooks:
            h.remove()
