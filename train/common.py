"""Small shared helpers: CPU threads, deterministic random initialisation, dtype rounding, file IO."""
from __future__ import annotations

import math
import os
from typing import Dict

import torch
from torch import nn


def set_threads(n: int | None = None):
    """Keep CPU use modest (the build machines have 2 cores shared with Rust builds)."""
    n = n or int(os.environ.get("X2E_THREADS", "1"))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def randomize_(module: nn.Module, seed: int, norm_jitter: float = 0.1, bias_std: float = 0.1,
               weight_gain: float = 1.0) -> nn.Module:
    """Deterministically re-initialise every parameter so that every path matters.

    * norm weights (LayerNorm/RMSNorm/GroupNorm scale, QK-norm scale): 1 + norm_jitter * N(0,1)
    * biases and norm biases: bias_std * N(0,1)
    * embeddings: N(0,1)
    * other weights: N(0,1) * weight_gain / sqrt(fan_in)
    Parameters are visited in sorted-name order with one generator, so the result depends only on seed and
    the set of names and shapes.
    """
    g = torch.Generator().manual_seed(seed)
    params = dict(module.named_parameters())
    norm_types = (nn.LayerNorm, nn.GroupNorm, nn.Embedding)
    kinds = {}
    for mname, m in module.named_modules():
        for pname, _ in m.named_parameters(recurse=False):
            full = f"{mname}.{pname}" if mname else pname
            cls = type(m).__name__
            if isinstance(m, nn.Embedding):
                kinds[full] = "embedding"
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)) or "Norm" in cls:
                kinds[full] = "norm_w" if pname in ("weight", "scale") else "bias"
            elif pname == "bias":
                kinds[full] = "bias"
            else:
                kinds[full] = "weight"
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            kind = kinds.get(name, "weight")
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if kind == "norm_w":
                v = 1.0 + norm_jitter * r
            elif kind == "bias":
                v = bias_std * r
            elif kind == "embedding":
                v = r
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                v = r * (weight_gain / math.sqrt(max(fan_in, 1)))
            p.copy_(v.to(p.dtype))
    return module


def round_to_(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Round every parameter to `dtype` and back (the stored values), keeping the module in f32."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.to(dtype).to(p.dtype))
    return module


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.double()
    b = b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def contiguous_dict(d: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone().contiguous() for k, v in d.items()}
