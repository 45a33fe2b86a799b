"""Smoke test of the demo-model recipe (train/demo.py) at toy size: every stage runs and hands the next what it needs,
the export is the released layout and the reference pipeline edits with it. Training itself is never run here."""
import json
import os

import numpy as np
import pytest

from train import synthetic


def test_synthetic_is_deterministic_and_edits():
    for task in synthetic.TASKS:
        a = synthetic.make_sample(3, task, 32, task=task)
        b = synthetic.make_sample(3, task, 32, task=task)
        assert a.instruction == b.instruction and a.task == task
        assert np.array_equal(a.source, b.source) and np.array_equal(a.target, b.target)
        assert a.source.shape == (32, 32, 3) and a.source.dtype == np.uint8
        assert not np.array_equal(a.source, a.target), (task, a.instruction)


def test_recipe_smoke(tmp_path):
    """Every stage at toy size; the compressed text the DiT trains on equals the 512-token path; PyTorch edits."""
    from train.demo import load_split, main, run_config
    from train.demo_eval import TorchEditor, check_compression
    out = str(tmp_path / "demo")
    cfg = dict(n_train=14, n_test_per_task=1, text_steps=2, text_batch=2, route_n=7, route_steps=3, vae_steps=2,
               vae_batch=2, dit_steps=2, dit_batch=2, dec_steps=2, dec_batch=2, vocab=600, region_weight=2.0,
               pad_anneal=0.5, task_mix="color=2")
    sets = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in cfg.items()]
    main(["--out", out, "--stages", "data,tokenizer,text,route,vae,dit,decoder,export", *sum([["--set", s] for s in sets], [])])
    model = os.path.join(out, "model")
    for d in ("transformer", "adapter", "text_encoder", "vae", "scheduler"):
        assert os.path.isdir(os.path.join(model, d)), d
    with open(os.path.join(model, "demo.json")) as f:
        assert json.load(f)["native_size"] == 64
    c = run_config(out)
    assert c.task_mix == "color=2" and c.pad_anneal == 0.5
    ed = TorchEditor(model, c)
    test = load_split(os.path.join(out, "work"), "test")
    err = check_compression(ed, test["instruction"][0], test["source"][0], int(test["task"][0]))
    assert err < 1e-4, err
    img = ed.edit(test["source"][0], test["instruction"][0], int(test["task"][0]), 0, steps=1)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    # choosing between runs: a validation split is written once (seed 2000, not the held-out seed) and scored
    from train import demo_select
    val = str(tmp_path / "val")
    demo_select.main([out, out, "--val", val, "--per-task", "1"])
    v = load_split(os.path.join(val, "work"), "test")
    assert len(v["task"]) == len(c.tasks) and not np.array_equal(v["source"], test["source"])


def test_eval_scores_the_edit_region():
    """demo_eval's region metric: the changed pixels dilated by 2 px; an edit that reproduces the target there scores
    above the source, whose region score stays low even when most of the picture is untouched."""
    from train.demo_eval import edit_mask, scores, summarize, table
    src = np.full((16, 16, 3), 40, np.uint8)
    tgt = src.copy()
    tgt[4:8, 4:8] = 200
    m = edit_mask(src, tgt)
    assert m.sum() == 8 * 8 and m[2, 2] and m[9, 9] and not m[1, 1] and not m[10, 10]
    half = src.copy()
    half[4:8, 4:8] = 120  # halfway there
    s = scores(half, src, tgt)
    assert s["region"] > s["region_source"] + 5 and s["psnr"] > s["psnr_source"]
    assert abs(s["region_share"] - 0.25) < 1e-9
    res = {0: dict(task=5, routed=5, ceiling=30.0, **s), 1: dict(task=5, routed=1, ceiling=30.0, **scores(src, src, tgt))}
    summ = summarize(res)
    assert summ["color"]["n"] == 2 and summ["color"]["region_closer"] == 0.5 and summ["all"]["routed_ok"] == 0.5
    assert "| color (5) | 2 |" in table(summ, None)


def test_region_weights_follow_the_edit_tokens():
    """train/demo.py's loss weights: the 16x16 px patches an edit touches weigh 1 + extra, the rest 1, and every sample
    keeps the same total (one weight per packed token, row-major like pack_latents)."""
    from train.demo import token_weights
    src = np.zeros((2, 32, 32, 3), np.uint8)
    tgt = src.copy()
    tgt[0, 20:24, 4:8] = 255  # sample 0: bottom-left patch only (dilation stays inside it)
    tgt[1] = 255  # sample 1: everything
    w = token_weights(src, tgt, 3.0)
    assert w.shape == (2, 4)
    assert torch_allclose(w.sum(1), [4.0, 4.0])
    assert w[0, 2] > 3 * w[0, 0] - 1e-5 and w[0, 0] == w[0, 1] == w[0, 3]
    assert torch_allclose(w[1], [1.0] * 4)
    assert torch_allclose(token_weights(src, tgt, 0.0), [[1.0] * 4] * 2)


def test_task_mix_weights_the_named_tasks():
    """DemoConfig.task_mix: a named task's samples are drawn in proportion to its weight, the rest at 1; a name that
    is not a task fails with a message naming it."""
    from train.demo import sample_weights
    tasks = np.array([1, 5, 5, 12, 2])  # removal, color, color, camera, addition
    p = sample_weights(tasks, "color=3,camera=2")
    assert np.allclose(p, np.array([1, 3, 3, 2, 1]) / 10)
    assert sample_weights(tasks, "") is None
    for bad in ("colour=3", "color=much", "color"):
        with pytest.raises(SystemExit, match="task_mix"):
            sample_weights(tasks, bad)


def torch_allclose(t, ref) -> bool:
    return np.allclose(t.numpy(), np.array(ref, np.float32), atol=1e-6)
