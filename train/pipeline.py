"""The whole edit, as X2Edit's pipeline runs it (X2E src/pipeline_1024.py::__call__), in float32:

    tokens -> Qwen2.5-VL hidden states -> AlignNet -> (prompt_embeds, pooled)
    source uint8 [H,W,3] -> x/255*2-1 -> VAE encode (posterior MEAN; X2Edit samples) -> (z-shift)*scale -> pack = cond
    sigmas (flow-match schedule from the noise-token count) -> Euler over the DiT with the cond stream
    -> unpack -> VAE decode -> (x/2+0.5).clamp(0,1) -> round(x*255) -> uint8
Size mode "source": the output has the source size (which must be a multiple of 16; X2Edit's pipeline floors to
a multiple of 16 with vae_scale_factor = 2**len(block_out_channels) = 16, so latent h = 2*(H//16)).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from .flux import image_ids, pack_latents, text_ids, unpack_latents
from .sampler import euler_sample, flux_sigmas
from .vae import decode, encode_mean


def image_to_tensor(img_u8: np.ndarray) -> torch.Tensor:
    """[H,W,3] uint8 -> [1,3,H,W] in [-1,1] (diffusers VaeImageProcessor: /255 then 2x-1)."""
    x = torch.from_numpy(img_u8.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    return 2.0 * x - 1.0


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """[1,3,H,W] -> [H,W,3] uint8 exactly as VaeImageProcessor.postprocess(output_type='pil')."""
    x = (x / 2 + 0.5).clamp(0, 1)
    a = x.cpu().permute(0, 2, 3, 1).float().numpy()
    return (a * 255).round().astype("uint8")[0]


@torch.no_grad()
def run_edit(transformer, vae, text_fn, source_u8: np.ndarray, steps: int, guidance: float, task_id: int,
             noise: torch.Tensor, sched_cfg, offset: int, debug: Optional[Dict[str, torch.Tensor]] = None):
    """text_fn() -> (prompt_embeds [1,L,D], pooled [1,P]). Returns uint8 [H,W,3]."""
    H, W = source_u8.shape[:2]
    assert H % 16 == 0 and W % 16 == 0, "size mode 'source' needs a multiple of 16"
    h, w = 2 * (H // 16), 2 * (W // 16)
    prompt_embeds, pooled = text_fn()
    cond_latent = encode_mean(vae, image_to_tensor(source_u8))
    cond = pack_latents(cond_latent)
    N = cond.shape[1]
    sigmas = flux_sigmas(steps, N, sched_cfg)
    L = prompt_embeds.shape[1]
    g = torch.tensor([guidance], dtype=torch.float32)
    tid = torch.tensor([task_id], dtype=torch.int64)
    iids, cids, tids = image_ids(h, w), image_ids(h, w, offset), text_ids(L)

    def vel(x, s):
        return transformer(x, cond, prompt_embeds, pooled, s, g, iids, cids, tids, task_id=tid)

    steps_dbg: Dict[str, torch.Tensor] = {}
    latent = euler_sample(vel, noise, sigmas, steps_dbg)
    decoded = decode(vae, unpack_latents(latent, h, w))
    out = tensor_to_image(decoded)
    if debug is not None:
        debug.update({"prompt_embeds": prompt_embeds, "pooled": pooled, "cond_latent": cond_latent, "cond": cond,
                      "sigmas": sigmas, "latent": latent, "image_decoded": decoded})
        debug.update({k: v for k, v in steps_dbg.items() if k.endswith(".latent")})
    return out
