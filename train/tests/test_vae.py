"""The VAE path is diffusers' AutoencoderKL; ae.safetensors (BFL names) converts back through diffusers' own
LDM converter to the same weights and outputs; encode = scaled posterior mean; decode unscales."""
import os

import torch

from train.common import rel_l2
from train.configs import tiny_config
from train.vae import build_vae, decode, diffusers_to_bfl_vae, encode_mean, load_vae


@torch.no_grad()
def test_vae_files_and_semantics(models_dir):
    cfg = tiny_config().vae
    a = load_vae(models_dir, "diffusers")
    b = load_vae(models_dir, "bfl", cfg)
    x = torch.rand(1, 3, 48, 80, generator=torch.Generator().manual_seed(1)) * 2 - 1
    za, zb = encode_mean(a, x), encode_mean(b, x)
    assert torch.equal(za, zb)
    ref = (a.encode(x).latent_dist.mean - 0.1159) * 0.3611
    assert rel_l2(za, ref) < 1e-7 and za.shape == (1, 16, 6, 10)
    ya = decode(a, za)
    assert torch.equal(ya, decode(b, za))
    assert rel_l2(ya, a.decode(za / 0.3611 + 0.1159).sample) < 1e-7 and ya.shape == x.shape


def test_bfl_vae_names():
    cfg = tiny_config().vae
    vae = build_vae(cfg)
    bfl = diffusers_to_bfl_vae(vae.state_dict(), len(cfg.block_out_channels))
    assert "encoder.down.1.block.0.nin_shortcut.weight" in bfl  # 64 -> 32
    assert "decoder.up.0.block.0.nin_shortcut.weight" in bfl  # 32 -> 64
    assert "decoder.up.3.upsample.conv.weight" in bfl and "decoder.up.0.upsample.conv.weight" not in bfl
    assert bfl["encoder.mid.attn_1.q.weight"].shape == (32, 32, 1, 1)
    assert "encoder.down.3.downsample.conv.weight" not in bfl
    assert not any("quant_conv" in k for k in bfl)
