"""Flow-matching Euler sampler with FLUX's schedule (X2E src/pipeline_1024.py, diffusers
FlowMatchEulerDiscreteScheduler 0.32.2).

sigmas = linspace(1, 1/N, N) (float32); with use_dynamic_shifting (FLUX.1-dev, Krea):
    mu = calculate_shift(#noise tokens)           (cond tokens excluded)
    sigma' = e^mu / (e^mu + (1/sigma - 1))
otherwise sigma' = shift*sigma / (1 + (shift-1)*sigma) (schnell / shuttle: shift 1 = unchanged);
then a terminal 0 is appended. Euler: x <- x + (sigma_next - sigma) * v(x, sigma).
The arithmetic is done in float32 like diffusers (numpy float32 arrays with Python-float mu).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .configs import SchedulerConfig


def calculate_shift(image_seq_len: int, base_seq_len: int = 256, max_seq_len: int = 4096,
                    base_shift: float = 0.5, max_shift: float = 1.15) -> float:
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


def flux_sigmas(steps: int, image_seq_len: int, cfg: SchedulerConfig) -> torch.Tensor:
    """[steps+1] float32, terminal 0 included."""
    s = np.linspace(1.0, 1.0 / steps, steps).astype(np.float32)
    if cfg.use_dynamic_shifting:
        mu = calculate_shift(image_seq_len, cfg.base_image_seq_len, cfg.max_image_seq_len, cfg.base_shift,
                             cfg.max_shift)
        s = math.exp(mu) / (math.exp(mu) + (1 / s - 1) ** 1.0)
    else:
        s = cfg.shift * s / (1 + (cfg.shift - 1) * s)
    s = torch.from_numpy(np.asarray(s)).to(torch.float32)
    return torch.cat([s, torch.zeros(1)])


def euler_sample(velocity_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor,
                 sigmas: torch.Tensor, debug: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
    """velocity_fn(x, sigma[1]) -> v. The DiT receives sigma itself as its timestep input."""
    x = noise.float()
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i:i + 1], sigmas[i + 1:i + 2]
        v = velocity_fn(x, s).float()
        x = x + (s_next - s) * v
        if debug is not None:
            debug[f"step.{i}.velocity"] = v
            debug[f"step.{i}.latent"] = x
    return x
