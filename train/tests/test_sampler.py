"""Sigmas and Euler steps == diffusers FlowMatchEulerDiscreteScheduler (FLUX.1-dev and schnell configs)."""
import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from train.configs import DEV_SCHEDULER, SCHNELL_SCHEDULER
from train.sampler import calculate_shift, euler_sample, flux_sigmas


def _diffusers(cfg, steps, seq_len):
    s = FlowMatchEulerDiscreteScheduler(num_train_timesteps=cfg.num_train_timesteps, shift=cfg.shift,
                                        use_dynamic_shifting=cfg.use_dynamic_shifting,
                                        base_image_seq_len=cfg.base_image_seq_len,
                                        max_image_seq_len=cfg.max_image_seq_len, base_shift=cfg.base_shift,
                                        max_shift=cfg.max_shift)
    mu = calculate_shift(seq_len, cfg.base_image_seq_len, cfg.max_image_seq_len, cfg.base_shift, cfg.max_shift)
    s.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)  # exactly X2Edit's pipeline call
    return s


@pytest.mark.parametrize("steps,seq", [(1, 4096), (4, 4096), (4, 1024), (28, 4096), (28, 1024), (4, 15), (50, 333)])
@pytest.mark.parametrize("cfg", [DEV_SCHEDULER, SCHNELL_SCHEDULER], ids=["dev", "schnell"])
def test_sigmas_match_diffusers(cfg, steps, seq):
    ref = _diffusers(cfg, steps, seq)
    ours = flux_sigmas(steps, seq, cfg)
    assert ours.dtype == torch.float32 and ours.shape == (steps + 1,)
    assert torch.allclose(ours, ref.sigmas.float(), rtol=0, atol=1e-7), (ours, ref.sigmas)
    assert float(ours[-1]) == 0.0


def test_shift_values():
    assert abs(calculate_shift(4096) - 1.15) < 1e-12
    assert abs(calculate_shift(1024) - (0.5 + 768 * 0.65 / 3840)) < 1e-12
    assert torch.equal(flux_sigmas(4, 4096, SCHNELL_SCHEDULER), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))


def test_euler_matches_scheduler_step():
    cfg = DEV_SCHEDULER
    ref = _diffusers(cfg, 4, 1024)
    x0 = torch.randn(1, 16, 64)
    w = torch.randn(64, 64) / 8

    def vel(x, s):
        return torch.tanh(x @ w) * (1 + s)

    ours = euler_sample(vel, x0, flux_sigmas(4, 1024, cfg))
    x = x0.clone()
    for t in ref.timesteps:
        s = ref.sigmas[ref.index_for_timestep(t)].view(1)
        x = ref.step(vel(x, s), t, x, return_dict=False)[0]
    assert torch.allclose(ours, x, rtol=1e-6, atol=1e-6)
