"""MoE-LoRA: sparse dispatch == dense top-2-masked evaluation; X2Edit's routing rules; release key names."""
import re

import torch

from train.common import randomize_
from train.configs import tiny_config
from train.flux import X2EditTransformer
from train.moe_lora import MoELoRA


def _layer(seed=0):
    m = MoELoRA(64, num_experts=12, top_k=2, rank=8, alpha=8.0)
    return randomize_(m, seed)


def test_sparse_equals_dense():
    m = _layer()
    x = torch.randn(2, 41, 64)
    for t in (torch.randn(64), torch.randn(2, 64)):  # inference [D] and training [B, D] task embeddings
        a = m(x, t, mode="sparse")
        b = m(x, t, mode="dense")
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_dense_matches_the_formula():
    """y = sum_{top-2} p_k up_k(down_k(x)) * alpha/r + shared(x); p = softmax over ALL experts, no renormalisation."""
    m = _layer(1)
    x = torch.randn(1, 7, 64)
    t = torch.randn(64)
    gate_in = torch.cat([x, t.view(1, 1, -1).expand(1, 7, -1)], -1)
    p = (gate_in @ m.gate.weight.T).softmax(-1)
    y = m(x, t, mode="sparse")
    for i in range(7):
        top = p[0, i].topk(2).indices
        assert float(p[0, i, top].sum()) < 1.0  # raw probabilities, not renormalised
        ref = m.shared_experts(x[0, i])
        for k in top:
            e = m.experts[int(k)]
            ref = ref + p[0, i, k] * (e.up.weight @ (e.down.weight @ x[0, i])) * (8.0 / 8)
        assert torch.allclose(y[0, i], ref, rtol=1e-5, atol=1e-6)


def test_shared_expert_always_on_and_task_changes_routing():
    m = _layer(2)
    with torch.no_grad():
        for e in m.experts:
            e.up.weight.zero_()
    x = torch.randn(1, 5, 64)
    assert torch.allclose(m(x, torch.randn(64)), m.shared_experts(x), atol=1e-7)
    m = _layer(3)
    x = torch.randn(1, 200, 64)
    i1 = m.gate(m.gate_input(x, torch.randn(64)))[0]
    i2 = m.gate(m.gate_input(x, torch.randn(64) * 3))[0]
    assert not torch.equal(i1.sort(-1).values, i2.sort(-1).values)


def test_release_key_names():
    cfg = tiny_config()
    model = X2EditTransformer(cfg.flux, cfg.moe)
    keys = set(model.lora_state_dict())
    n = cfg.moe.num_experts
    per_layer = 2 * (n + 1) + 1
    assert len(keys) == per_layer * (4 * cfg.flux.num_layers + 3 * cfg.flux.num_single_layers)
    pat = re.compile(r"^(transformer_blocks\.\d+\.attn\.processor\.(q|k|v|proj)|single_transformer_blocks\.\d+\.attn"
                     r"\.processor\.(q|k|v))_moe_lora\.(experts\.\d+\.(down|up)|shared_experts\.(down|up)|gate)\.weight$")
    assert all(pat.match(k) for k in keys), sorted(k for k in keys if not pat.match(k))[:3]
    assert "single_transformer_blocks.0.attn.processor.proj_moe_lora.gate.weight" not in keys
    sd = model.lora_state_dict()
    assert sd["transformer_blocks.0.attn.processor.q_moe_lora.gate.weight"].shape == (12, 128)
    assert sd["transformer_blocks.1.attn.processor.proj_moe_lora.experts.11.down.weight"].shape == (8, 64)
    assert sd["single_transformer_blocks.1.attn.processor.v_moe_lora.shared_experts.up.weight"].shape == (64, 8)
