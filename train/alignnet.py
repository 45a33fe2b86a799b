"""AlignNet (X2E src/proj.py Proj7Exp with use_cnn=True, use_t5=False, use_scale=False; MLP3):

    x  [B, layers+1, L, H]  --Conv2d(layers+1 -> 1, k x k, pad (k-1)/2, bias)--> squeeze(1): [B, L, H]
    h  = LayerNorm(H, eps, affine)(x)
    x2 = Linear(H->D, no bias) -> GELU(erf) -> Linear(D->D, no bias)          prompt_embeds [B, L, D]
    x1 = mean_over_L( Linear(D->P, bias)(GELU(x2)) )                          pooled [B, P]
State-dict keys: conv.weight, conv.bias, mlp.layernorm.{weight,bias}, mlp.projector.0.weight,
mlp.projector.2.weight, mlp.fc.1.{weight,bias} (a leading `module.` is stripped on load).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import nn

from .configs import AlignConfig


class MLP3(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, out_dim1: int, eps: float):
        super().__init__()
        self.layernorm = nn.LayerNorm(in_dim, eps=eps)
        self.projector = nn.Sequential(nn.Linear(in_dim, hidden_dim, bias=False), nn.GELU(),
                                       nn.Linear(hidden_dim, hidden_dim, bias=False))
        self.fc = nn.Sequential(nn.GELU(), nn.Linear(out_dim, out_dim1))

    def forward(self, x, debug: Optional[Dict[str, torch.Tensor]] = None):
        x = self.layernorm(x)
        x2 = self.projector(x)
        x1 = self.fc(x2)
        if debug is not None:
            debug["layernorm"] = x
            debug["pooled_tokens"] = x1
        return x1.mean(dim=1), x2


class AlignNet(nn.Module):
    def __init__(self, cfg: AlignConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv2d(cfg.in_channels, 1, kernel_size=cfg.kernel_size, padding=(cfg.kernel_size - 1) // 2)
        self.mlp = MLP3(cfg.input_dim, cfg.output_dim, cfg.output_dim, cfg.pooled_dim, cfg.eps)

    def forward(self, hidden_states: torch.Tensor, debug: Optional[Dict[str, torch.Tensor]] = None):
        """Returns (pooled [B,P], prompt_embeds [B,L,D]) like X2Edit (pooled first)."""
        B, C, S, H = hidden_states.shape
        x = self.conv(hidden_states.view(B, C, S, H)).squeeze(1)
        if debug is not None:
            debug["conv"] = x
        return self.mlp(x, debug)

    def load_release_state_dict(self, sd: Dict[str, torch.Tensor]):
        self.load_state_dict({k.replace("module.", ""): v for k, v in sd.items()})
