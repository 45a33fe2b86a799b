"""X2Edit's task-aware contrastive ("dispersive") loss (X2E training_script/train_1024.py,
disp_loss.compute_disp_loss_all). torch only, so that spawned worker processes import it cheaply."""
from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F


def dispersive_loss(hidden_all: List[torch.Tensor], task: torch.Tensor, tau: float = 0.5, weight: float = 0.2,
                    gather=None, rank: int = 0) -> torch.Tensor:
    """X2E disp_loss.compute_disp_loss_all: per double block, flatten the noise-token hidden states per sample,
    L2-normalise, gather over processes (no gradient through the gathered copy, as all_gather), distance = squared
    Euclidean / tau, loss = -log(sum_pos e^-d / sum_all e^-d) with the own sample excluded from the positives,
    averaged over samples and blocks, times weight."""
    B = task.shape[0]
    all_task = gather(task) if gather is not None else task
    pos = (task[:, None] == all_task[None, :]).float()
    pos[:, rank * B:(rank + 1) * B].fill_diagonal_(0)
    total = 0.0
    for h in hidden_all:
        z = F.normalize(h.reshape(B, -1).float(), p=2, dim=-1)
        zg = gather(z.detach()) if gather is not None else z.detach()
        d = torch.cdist(z, zg, p=2, compute_mode="use_mm_for_euclid_dist") ** 2
        e = torch.exp(-(d / tau))
        a = (e * pos).sum(dim=1)
        b = e.sum(dim=1)
        total = total + (-torch.log((a + 1e-8) / (b + 1e-8))).mean()
    return total / len(hidden_all) * weight
