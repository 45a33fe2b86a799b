"""X2Edit's task-aware MoE-LoRA (semantics of X2E src/layers.py: MoEGate, MoELoRALayer, LoRALinearLayer).

Per token x (width D) with task embedding e (width D):
    p      = softmax(W_gate @ [x, e])            over ALL experts (W_gate: [E, 2D], no bias)
    top2   = topk(p, 2)                          (no renormalisation: weights are the raw p values)
    y      = sum_{k in top2} p_k * up_k(down_k(x)) * alpha/rank  +  up_s(down_s(x)) * alpha/rank
The result is ADDED by the caller to the base projection (q/k/v: base(x) + y; proj: h + y(h)).

The module and parameter names reproduce the released checkpoint keys:
    {q,k,v,proj}_moe_lora.experts.E.{down,up}.weight, .shared_experts.{down,up}.weight, .gate.weight
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    """down Linear(D->r, no bias) -> up Linear(r->D, no bias), times alpha/rank."""

    def __init__(self, dim_in: int, dim_out: int, rank: int, alpha: float):
        super().__init__()
        self.down = nn.Linear(dim_in, rank, bias=False)
        self.up = nn.Linear(rank, dim_out, bias=False)
        self.rank = rank
        self.alpha = alpha
        nn.init.normal_(self.down.weight, std=1.0 / rank)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        y = self.up(self.down(x.to(self.down.weight.dtype)))
        return (y * (self.alpha / self.rank)).to(dtype)


class MoEGate(nn.Module):
    def __init__(self, gate_dim: int, num_experts: int, top_k: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_experts, gate_dim))
        self.top_k = top_k
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def probs(self, gate_in: torch.Tensor) -> torch.Tensor:
        return F.linear(gate_in, self.weight).softmax(dim=-1)

    def forward(self, gate_in: torch.Tensor):
        p = self.probs(gate_in)
        w, idx = torch.topk(p, k=self.top_k, dim=-1, sorted=False)
        return idx, w, p


class MoELoRA(nn.Module):
    def __init__(self, dim: int, num_experts: int, top_k: int, rank: int, alpha: float, task_guide: bool = True):
        super().__init__()
        self.shared_experts = LoRALinear(dim, dim, rank, alpha)
        self.experts = nn.ModuleList([LoRALinear(dim, dim, rank, alpha) for _ in range(num_experts)])
        self.gate = MoEGate(2 * dim if task_guide else dim, num_experts, top_k)
        self.top_k = top_k
        self.task_guide = task_guide

    def gate_input(self, x: torch.Tensor, task_emb: Optional[torch.Tensor]) -> torch.Tensor:
        if not self.task_guide or task_emb is None:
            return x
        B, L, _ = x.shape
        if task_emb.dim() == 1:  # inference: one task embedding [D]
            t = task_emb.view(1, 1, -1).expand(B, L, -1)
        else:  # training: [B, D]
            t = task_emb[:, None, :].expand(B, L, -1)
        return torch.cat([x, t.to(x.dtype)], dim=-1)

    def forward(self, x: torch.Tensor, task_emb: Optional[torch.Tensor], mode: str = "sparse",
                debug: Optional[Dict[str, torch.Tensor]] = None, prefix: str = "") -> torch.Tensor:
        B, L, D = x.shape
        idx, w, p = self.gate(self.gate_input(x, task_emb))
        if mode == "sparse":
            y = self._sparse(x.reshape(-1, D), idx.reshape(-1, self.top_k), w.reshape(-1, self.top_k)).view(B, L, D)
        elif mode == "dense":
            y = self._dense(x, idx, p)
        else:
            raise ValueError(f"unknown MoE mode {mode!r}")
        y = y + self.shared_experts(x)
        if debug is not None:
            debug[prefix + "gate_probs"] = p.detach()
            debug[prefix + "out"] = y.detach()
        return y

    def _sparse(self, x: torch.Tensor, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Dispatch each (token, slot) to its expert only (X2Edit's training-mode loop). When gradients are on, every
        expert is called (possibly on zero tokens), as in X2Edit, so that all of them are in the graph (DDP)."""
        flat_idx = idx.reshape(-1)
        xr = x.repeat_interleave(self.top_k, dim=0)
        y = torch.zeros_like(xr)
        grad = torch.is_grad_enabled()
        for e, expert in enumerate(self.experts):
            sel = flat_idx == e
            if grad or bool(sel.any()):
                y[sel] = expert(xr[sel]).to(y.dtype)
        return (y.view(-1, self.top_k, x.shape[-1]) * w.unsqueeze(-1).to(y.dtype)).sum(dim=1)

    def _dense(self, x: torch.Tensor, idx: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Evaluate every expert on every token; weight by p masked to the top-k (the reference)."""
        mask = torch.zeros_like(p).scatter_(-1, idx, 1.0)
        wm = (p * mask).to(x.dtype)
        down = torch.stack([e.down.weight for e in self.experts]).to(x.dtype)  # [E, r, D]
        up = torch.stack([e.up.weight for e in self.experts]).to(x.dtype)  # [E, D, r]
        scale = self.experts[0].alpha / self.experts[0].rank
        h = torch.einsum("bld,erd->bler", x, down) * wm.unsqueeze(-1)  # weight applied on the rank side
        return torch.einsum("bler,edr->bld", h, up) * scale


class DoubleBlockMoE(nn.Module):
    """Attached as `transformer_blocks.N.attn.processor` (released key prefix)."""

    def __init__(self, dim: int, cfg):
        super().__init__()
        for name in ("q", "k", "v", "proj"):
            setattr(self, f"{name}_moe_lora", MoELoRA(dim, cfg.num_experts, cfg.top_k, cfg.rank, cfg.alpha))


class SingleBlockMoE(nn.Module):
    """Attached as `single_transformer_blocks.N.attn.processor` (released key prefix)."""

    def __init__(self, dim: int, cfg):
        super().__init__()
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_moe_lora", MoELoRA(dim, cfg.num_experts, cfg.top_k, cfg.rank, cfg.alpha))
