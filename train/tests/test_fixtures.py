"""The committed fixtures follow the stage contract (reference/stage-interface.md) and are reproduced exactly by
`python -m train.export_fixtures` from the current code."""
import json
import os

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

F32, I64, U8 = torch.float32, torch.int64, torch.uint8
L, N, H = 512, 15, 64

CONTRACT = {
    "dit": ({"img": ((1, N, 64), F32), "cond": ((1, N, 64), F32), "txt": ((1, L, 64), F32), "pooled": ((1, 32), F32),
             "timestep": ((1,), F32), "guidance": ((1,), F32), "img_ids": ((N, 3), F32), "cond_ids": ((N, 3), F32),
             "txt_ids": ((L, 3), F32), "task_id": ((1,), I64)},
            {"velocity": ((1, N, 64), F32), "velocity.community_gguf": ((1, N, 64), F32)}),
    "sample": ({"cond": ((1, N, 64), F32), "txt": ((1, L, 64), F32), "pooled": ((1, 32), F32),
                "guidance": ((1,), F32), "img_ids": ((N, 3), F32), "cond_ids": ((N, 3), F32),
                "txt_ids": ((L, 3), F32), "task_id": ((1,), I64), "noise": ((1, N, 64), F32),
                "sigmas": ((5,), F32)},
               {"latent": ((1, N, 64), F32), "latent.community_gguf": ((1, N, 64), F32)}),
    "sample-schnell": ({"noise": ((1, N, 64), F32), "sigmas": ((5,), F32)}, {"latent": ((1, N, 64), F32)}),
    "text": ({"input_ids": ((1, L), I64), "attention_mask": ((1, L), I64)},
             {"hidden_states": ((1, 3, L, H), F32), "prompt_embeds": ((1, L, 64), F32), "pooled": ((1, 32), F32),
              "prompt_embeds.qwen2vl_gguf": ((1, L, 64), F32), "pooled.qwen2vl_gguf": ((1, 32), F32)}),
    "align": ({"hidden_states": ((1, 3, L, H), F32)}, {"prompt_embeds": ((1, L, 64), F32), "pooled": ((1, 32), F32)}),
    "vae-encode": ({"image": ((1, 3, 48, 80), F32)}, {"latent_mean": ((1, 16, 6, 10), F32)}),
    "vae-decode": ({"latent": ((1, 16, 6, 10), F32)}, {"image_decoded": ((1, 3, 48, 80), F32)}),
    "edit": ({"noise": ((1, N, 64), F32), "source": ((48, 80, 3), U8), "task_id": ((1,), I64)},
             {"image": ((48, 80, 3), U8), "prompt_embeds": ((1, L, 64), F32), "pooled": ((1, 32), F32),
              "cond_latent": ((1, 16, 6, 10), F32), "sigmas": ((5,), F32), "latent": ((1, N, 64), F32)}),
}


@pytest.mark.parametrize("stage", sorted(CONTRACT))
def test_stage_contract(fixtures_dir, stage):
    ins, outs = CONTRACT[stage]
    for fname, spec in (("inputs", ins), ("expected", outs)):
        t = load_file(os.path.join(fixtures_dir, stage, f"{fname}.safetensors"))
        for name, (shape, dtype) in spec.items():
            assert name in t, f"{stage}/{fname}: missing {name}"
            assert tuple(t[name].shape) == shape and t[name].dtype == dtype, (stage, name, t[name].shape, t[name].dtype)
            if t[name].is_floating_point():
                assert torch.isfinite(t[name]).all(), (stage, name)


def test_edit_metadata_and_png(fixtures_dir):
    with safe_open(os.path.join(fixtures_dir, "edit", "inputs.safetensors"), "pt") as f:
        md = f.metadata()
    assert md["size"] == "source" and md["cond_offset"] == "64" and md["task_id"] == "3"
    assert md["prompt_format"] == "x2edit" and md["steps"] == "4" and float(md["guidance"]) == 3.5
    from PIL import Image
    src = np.asarray(Image.open(os.path.join(fixtures_dir, "edit", "source.png")).convert("RGB"))
    assert np.array_equal(src, load_file(os.path.join(fixtures_dir, "edit", "inputs.safetensors"))["source"].numpy())


def test_tokenize_and_route_files(fixtures_dir):
    t = load_file(os.path.join(fixtures_dir, "tokenize", "expected.safetensors"))
    prompts = json.load(open(os.path.join(fixtures_dir, "tokenize", "prompts.json"), encoding="utf-8"))
    for fmt in ("x2edit", "raw"):
        assert t[f"{fmt}.input_ids"].shape == (len(prompts), L) and t[f"{fmt}.input_ids"].dtype == I64
    assert any(p["untruncated_length"]["x2edit"] > L for p in prompts)
    r = load_file(os.path.join(fixtures_dir, "route", "expected.safetensors"))
    assert r["generated_ids.0"].dtype == I64 and r["generated_ids.0"].shape[0] == 1


def _compare(a_path, b_path):
    a, b = load_file(a_path), load_file(b_path)
    assert set(a) == set(b), (a_path, set(a) ^ set(b))
    for k in a:
        x, y = a[k], b[k]
        assert x.dtype == y.dtype and x.shape == y.shape, (a_path, k)
        if x.is_floating_point():
            # CPU kernels (thread count, instruction set) change the last bits: compare by relative L2
            x, y = x.double(), y.double()
            assert float((x - y).norm()) <= 2e-5 * float(y.norm()) + 1e-9, (a_path, k)
        elif x.dtype == U8:
            assert (x.int() - y.int()).abs().max() <= 1, (a_path, k)
        else:
            assert torch.equal(x, y), (a_path, k)


def test_reexport_reproduces_committed_fixtures(tmp_path, fixtures_dir):
    """Regenerate everything into a temporary folder and compare with the committed files."""
    from train.export_fixtures import main
    main(["--out", str(tmp_path)])
    committed, fresh = [], []
    for root, _, files in os.walk(fixtures_dir):
        committed += [os.path.relpath(os.path.join(root, f), fixtures_dir) for f in files]
    for root, _, files in os.walk(tmp_path):
        fresh += [os.path.relpath(os.path.join(root, f), tmp_path) for f in files]
    assert sorted(committed) == sorted(fresh)
    for rel in committed:
        a, b = os.path.join(fixtures_dir, rel), os.path.join(tmp_path, rel)
        if rel.endswith(".safetensors"):
            _compare(a, b)
        elif rel.endswith((".json", ".txt", ".md", ".gguf", ".bin")) and not rel.endswith("README.md"):
            if rel.endswith(".bin"):
                sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
                assert set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa), rel
            else:
                assert open(a, "rb").read() == open(b, "rb").read(), rel
