"""Optional: our transformer == X2Edit's own src/transformer_flux.py + src/layers.py on shared weights.

Runs only when X2EDIT_SRC points at a checkout of OPPO-Mente-Lab/X2Edit (its code is not part of this repository)
and `einops` is importable. X2Edit's double-block processor hard-codes `inner_dim = 3072` for the text projections;
the test substitutes `attn.inner_dim` (the same value at full size) so the tiny model can run.
"""
import importlib.util
import os
import sys
import tempfile

import pytest
import torch

from train.common import rel_l2

SRC = os.environ.get("X2EDIT_SRC")
pytestmark = pytest.mark.skipif(not SRC or importlib.util.find_spec("einops") is None,
                                reason="set X2EDIT_SRC to an X2Edit checkout (and install einops) to run")


@torch.no_grad()
def test_matches_x2edit_source(models_dir, tiny_cfg, fixtures_dir):
    from safetensors.torch import load_file
    d = tempfile.mkdtemp()
    os.makedirs(os.path.join(d, "x2e"))
    for f in ("transformer_flux.py", "layers.py"):
        s = open(os.path.join(SRC, "src", f), encoding="utf-8").read()
        s = s.replace("inner_dim = 3072", "inner_dim = attn.inner_dim")
        open(os.path.join(d, "x2e", f), "w", encoding="utf-8").write(s)
    open(os.path.join(d, "x2e", "__init__.py"), "w").close()
    sys.path.insert(0, d)
    # their files import `src.layers`; alias our copy
    import x2e.layers as layers
    sys.modules.setdefault("src", type(sys)("src"))
    sys.modules["src.layers"] = layers
    from x2e.transformer_flux import FluxTransformer2DModel as X2EFlux
    from train.models import load_transformer
    ours = load_transformer(models_dir, tiny_cfg, "diffusers")
    theirs = X2EFlux(**tiny_cfg.flux.diffusers_kwargs())
    sd = ours.transformer.state_dict()
    theirs.load_state_dict({k: v for k, v in sd.items() if ".processor." not in k})
    m = tiny_cfg.moe
    procs = {n: (layers.MultiDoubleStreamBlockLoraProcessor(64, m.rank, m.alpha, num_experts=m.num_experts)
                 if n.startswith("transformer_blocks") else
                 layers.MultiSingleStreamBlockLoraProcessor(64, m.rank, m.alpha, num_experts=m.num_experts))
             for n in theirs.attn_processors}
    theirs.set_attn_processor(procs)
    theirs.load_state_dict(sd)
    inp = load_file(os.path.join(fixtures_dir, "dit", "inputs.safetensors"))
    exp = load_file(os.path.join(fixtures_dir, "dit", "expected.safetensors"))
    task = ours.task_embedding(inp["task_id"][0])  # 1-D, as X2Edit's inference
    out, _ = theirs(hidden_states=inp["img"], cond_hidden_states=inp["cond"], task_embeddings=task,
                    encoder_hidden_states=inp["txt"], pooled_projections=inp["pooled"], timestep=inp["timestep"],
                    img_ids=torch.cat([inp["img_ids"], inp["cond_ids"]]), txt_ids=inp["txt_ids"],
                    guidance=inp["guidance"], return_dict=False)
    assert rel_l2(out, exp["velocity"]) < 1e-6
