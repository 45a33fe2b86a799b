"""Evaluation of the demo model (train/demo.py) on held-out synthetic cases: PyTorch's edits (the reference pipeline,
train/pipeline.py, 512 text tokens, no shortcuts) and the runtime's (`x2edit edit` with no model flags, i.e. the
embedded GGUFs), scored against the target and compared with the unedited source.

    python -m train.demo_eval --out runs/demo [--runtime] [--per-task 6] [--grid docs/demo-grid.png]
                              [--cases models/demo/cases.safetensors]

Both use the runtime's seeded noise (SplitMix64 + Box-Muller, runtime/src/edit/noise.rs) and `--task auto`
(greedy routing by the text encoder), so PyTorch and the runtime edit from the same start. Scores per task: mean
PSNR of edit vs target and of source vs target, over the whole picture and over the edit region (where source and
target differ), the share of cases where the edit is closer to the target than the source is, and the VAE round trip
of the target (the ceiling of any edit). Results: OUT/eval/scores.json, OUT/eval/table.md, images under OUT/eval/{pytorch,runtime}/.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import tempfile
import time
from typing import Dict, List, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

from .synthetic import TASK_IDS, TASK_NAMES, TASKS

MASK64 = (1 << 64) - 1


def runtime_normal(seed: int, n: int) -> np.ndarray:
    """runtime/src/edit/noise.rs::normal: SplitMix64 words, two 53-bit uniforms per Box-Muller pair."""
    state = seed & MASK64

    def nxt():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    out = []
    while len(out) < n:
        u1 = ((nxt() >> 11) + 0.5) / float(1 << 53)
        u2 = ((nxt() >> 11) + 0.5) / float(1 << 53)
        r = math.sqrt(-2.0 * math.log(u1))
        t = 2.0 * math.pi * u2
        out += [r * math.cos(t), r * math.sin(t)]
    return np.array(out[:n], dtype=np.float32)


def runtime_noise(seed: int, h: int, w: int, c: int = 16) -> torch.Tensor:
    """Packed initial latent [1, (h/2)(w/2), 4c] exactly as the runtime makes it for `--seed`."""
    from .flux import pack_latents
    z = torch.from_numpy(runtime_normal(seed, c * h * w)).view(1, c, h, w)
    return pack_latents(z)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


EDIT_THRESHOLD = 24  # a pixel belongs to the edit region when some channel of source and target differ by more
EDIT_DILATE = 2  # ... or lies within this many pixels of one that does (soft edges of a blurred edit count)


def edit_mask(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Where the instruction changes the picture: [H, W] bool. Small edits (a recoloured circle) cover a few percent of
    the picture, so whole-picture PSNR mostly measures how well the untouched rest is reproduced; PSNR over this region
    measures whether the edit was carried out."""
    m = (np.abs(source.astype(np.int16) - target.astype(np.int16)).max(axis=-1) > EDIT_THRESHOLD)
    r, (H, W) = EDIT_DILATE, m.shape
    p = np.pad(m, r)
    out = np.zeros_like(m)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= p[dy:dy + H, dx:dx + W]
    return out


def scores(edit: np.ndarray, source: np.ndarray, target: np.ndarray) -> Dict[str, float]:
    """PSNR against the target of the edit and of the unedited source, over the whole picture and over the edit
    region (edit_mask)."""
    m = edit_mask(source, target)
    return {"psnr": psnr(edit, target), "psnr_source": psnr(source, target),
            "region": psnr(edit[m], target[m]), "region_source": psnr(source[m], target[m]),
            "region_share": float(m.mean())}


def select_cases(test: Dict, per_task: int) -> List[int]:
    """The first per_task held-out cases of each task, leaving out the few whose target equals the source (an outline
    style on a scene with only letters, which the generator draws filled)."""
    out = []
    for t in TASKS:
        out += [i for i in range(len(test["task"])) if int(test["task"][i]) == t
                and not np.array_equal(test["source"][i], test["target"][i])][:per_task]
    return out


# ------------------------------------------------------------------------------------------------------------------
# PyTorch

class TorchEditor:
    """The released-format folders loaded as the reference pipeline loads them (float32)."""

    def __init__(self, model_dir: str, cfg):
        from .demo import text_weights
        from .models import load_alignnet, load_transformer
        from .vae import load_vae
        self.sd, self.xc, self.tok = text_weights(model_dir, cfg)
        self.transformer = load_transformer(model_dir, self.xc, "diffusers", with_adapter=True)
        self.alignnet = load_alignnet(model_dir, self.xc)
        self.vae = load_vae(model_dir)

    def route(self, instruction: str) -> int:
        from .demo_text import greedy_route
        from .text import task_id_from_output
        return task_id_from_output(greedy_route(self.sd, self.xc.qwen, self.tok, instruction))

    @torch.no_grad()
    def text(self, instruction: str):
        from .text import qwen_text_forward, tokenize
        ids, mask = tokenize(self.tok, instruction, "x2edit", self.xc.max_sequence_length)
        hs = qwen_text_forward(self.sd, self.xc.qwen, ids, mask)
        pooled, emb = self.alignnet(hs)
        return emb, pooled

    @torch.no_grad()
    def roundtrip(self, image: np.ndarray) -> np.ndarray:
        """The VAE's encode (posterior mean) and decode: the best any edit through this VAE can score."""
        from .pipeline import decode, image_to_tensor, tensor_to_image
        from .vae import encode_mean
        return tensor_to_image(decode(self.vae, encode_mean(self.vae, image_to_tensor(image))))

    @torch.no_grad()
    def edit(self, source: np.ndarray, instruction: str, task: int, seed: int, steps: int = 4) -> np.ndarray:
        from .demo import COND_OFFSET
        from .pipeline import run_edit
        H, W = source.shape[:2]
        noise = runtime_noise(seed, 2 * (H // 16), 2 * (W // 16))
        emb, pooled = self.text(instruction)
        return run_edit(self.transformer, self.vae, lambda: (emb, pooled), source, steps, 3.5, task, noise,
                        self.xc.scheduler, COND_OFFSET)


@torch.no_grad()
def check_compression(ed: TorchEditor, instruction: str, source: np.ndarray, task: int) -> float:
    """Relative L2 between the DiT velocity on the 512-token text and on the compressed text of train/demo_text.py."""
    from .common import rel_l2
    from .demo import COND_OFFSET
    from .demo_text import align_compressed, align_inputs, compressed_hidden
    from .flux import image_ids, pack_latents, text_ids
    from .pipeline import image_to_tensor
    from .vae import encode_mean
    emb, pooled = ed.text(instruction)
    hid = compressed_hidden(ed.sd, ed.xc.qwen, ed.tok, [instruction])
    xa, mult = align_inputs(hid)
    emb_c, pooled_c, tb = align_compressed(ed.alignnet, xa, mult)
    cond = pack_latents(encode_mean(ed.vae, image_to_tensor(source)))
    h = w = 2 * (source.shape[0] // 16)
    x = runtime_noise(7, h, w)
    args = (torch.tensor([0.75]), None, image_ids(h, w), image_ids(h, w, COND_OFFSET))
    tid = torch.tensor([task])
    v_full = ed.transformer(x, cond, emb, pooled, args[0], None, args[2], args[3], text_ids(emb.shape[1]), task_id=tid)
    v_comp = ed.transformer(x, cond, emb_c, pooled_c, args[0], None, args[2], args[3], text_ids(emb_c.shape[1]),
                            task_id=tid, txt_bias=tb)
    return max(rel_l2(pooled_c, pooled), rel_l2(v_comp, v_full))


def eval_pytorch(ed: TorchEditor, test: Dict, cases: List[int], seed: int, out_dir: str, log) -> Dict:
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    res = {}
    t0 = time.time()
    for i in cases:
        ins = test["instruction"][i]
        routed = ed.route(ins)
        out = ed.edit(test["source"][i], ins, routed, seed + i)
        Image.fromarray(out).save(os.path.join(out_dir, f"case_{i:04d}.png"))
        res[i] = {"task": int(test["task"][i]), "routed": routed,
                  "ceiling": psnr(ed.roundtrip(test["target"][i]), test["target"][i]),
                  **scores(out, test["source"][i], test["target"][i])}
    log(f"pytorch: {len(cases)} edits in {time.time() - t0:.0f}s")
    return res


def routing_accuracy(ed: TorchEditor, instructions: List[str], tasks: List[int]) -> Dict:
    per = {t: [0, 0] for t in TASKS}
    for s, t in zip(instructions, tasks):
        per[t][1] += 1
        per[t][0] += int(ed.route(s) == t)
    total = sum(v[0] for v in per.values()) / max(1, sum(v[1] for v in per.values()))
    return {"accuracy": total, "per_task": {TASK_NAMES[t]: v[0] / max(1, v[1]) for t, v in per.items()},
            "n": len(instructions)}


# ------------------------------------------------------------------------------------------------------------------
# runtime

@torch.no_grad()
def text_use(ed: TorchEditor, test: Dict, n: int = 6, seed: int = 0) -> float:
    """Does the DiT read the instruction? PSNR over the edit region between the edits of the first n recolour cases and
    of the same instructions naming another colour (same source, task and noise): ~60 dB when the text is ignored (the
    model that showed it), far lower when the named colour is painted."""
    from .synthetic import OBJ_COLORS
    vals = []
    for i in [j for j in range(len(test["task"])) if int(test["task"][j]) == 5][:n]:
        ins, col = test["instruction"][i], test["meta"][i]["color"]
        other = OBJ_COLORS[(OBJ_COLORS.index(col) + 2) % len(OBJ_COLORS)]
        alt = re.sub(rf"\b{col}\b", other, ins)
        m = edit_mask(test["source"][i], test["target"][i])
        a, b = (ed.edit(test["source"][i], s, 5, seed + i) for s in (ins, alt))
        vals.append(psnr(a[m], b[m]))
    return float(np.mean(vals)) if vals else float("nan")


def eval_runtime(x2edit: str, test: Dict, cases: List[int], seed: int, out_dir: str, log,
                 extra_args: Optional[List[str]] = None) -> Dict:
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("XDG_RUNTIME_DIR", "/tmp/xdg")
    os.makedirs(env["XDG_RUNTIME_DIR"], exist_ok=True)
    res = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for i in cases:
            src = os.path.join(tmp, f"src_{i}.png")
            Image.fromarray(test["source"][i]).save(src)
            out = os.path.join(out_dir, f"case_{i:04d}.png")
            cmd = [x2edit, "edit", "--image", src, "--prompt", test["instruction"][i], "--out", out,
                   "--seed", str(seed + i)] + (extra_args or [])
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stderr}")
            m = re.search(r"task (\d+) \(", p.stderr)
            img = np.asarray(Image.open(out).convert("RGB"))
            res[i] = {"task": int(test["task"][i]), "routed": int(m.group(1)) if m else -1,
                      **scores(img, test["source"][i], test["target"][i])}
    log(f"runtime: {len(cases)} edits in {time.time() - t0:.0f}s")
    return res


# ------------------------------------------------------------------------------------------------------------------
# reporting

MEANS = ("psnr", "psnr_source", "region", "region_source", "region_share", "ceiling")


def summarize(res: Dict) -> Dict[str, Dict[str, float]]:
    """Per task and over all cases: mean of each score, the share of cases where the edit beats the source (whole
    picture: closer; edit region: region_closer) and the routing accuracy."""
    def row(rows, tid):
        out = {"id": tid, "n": len(rows)}
        for k in MEANS:
            if all(k in r for r in rows):
                out[k] = float(np.mean([r[k] for r in rows]))
        out["closer"] = float(np.mean([r["psnr"] > r["psnr_source"] for r in rows]))
        out["region_closer"] = float(np.mean([r["region"] > r["region_source"] for r in rows]))
        out["routed_ok"] = float(np.mean([r["routed"] == r["task"] for r in rows]))
        return out

    out = {}
    for t in TASKS:
        rows = [r for r in res.values() if r["task"] == t]
        if rows:
            out[TASK_NAMES[t]] = row(rows, t)
    out["all"] = row(list(res.values()), 0)
    return out


def table(pt: Dict, rt: Optional[Dict]) -> str:
    """Mean PSNR against the target per task, over the whole picture and over the edit region: the unedited source,
    PyTorch's edit and (its cases may be a subset, with their own source columns) the runtime's; 'closer' = share of
    cases where the edit beats the source; 'VAE' = the VAE round trip of the target, the ceiling of any edit."""
    head = "| task (id) | n | edit region | VAE | source | PyTorch | closer | region source | region PyTorch | closer |"
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    if rt:
        head += " n | source | runtime | region source | region runtime | closer |"
        sep += "---|---|---|---|---|---|"
    lines = [head, sep]
    for name, s in pt.items():
        row = (f"| {name} ({s['id']}) | {s['n']} | {100 * s['region_share']:.0f}% | {s['ceiling']:.1f} |"
               f" {s['psnr_source']:.1f} | {s['psnr']:.1f} | {100 * s['closer']:.0f}% |"
               f" {s['region_source']:.1f} | {s['region']:.1f} | {100 * s['region_closer']:.0f}% |")
        if rt and name in rt:
            r = rt[name]
            row += (f" {r['n']} | {r['psnr_source']:.1f} | {r['psnr']:.1f} | {r['region_source']:.1f} |"
                    f" {r['region']:.1f} | {100 * r['region_closer']:.0f}% |")
        lines.append(row)
    return "\n".join(lines) + "\n"


def grid(test: Dict, cases: List[int], pt_dir: str, rt_dir: Optional[str], path: str, scale: int = 2):
    """One example per task: source | target | PyTorch | runtime, with the instruction above."""
    from PIL import Image, ImageDraw
    S = test["source"].shape[1]
    cols = 4 if rt_dir else 3
    pick = []
    for t in TASKS:
        c = [i for i in cases if int(test["task"][i]) == t]
        if c:
            pick.append(c[0])
    cw, th = S * scale + 4, 14
    W = cols * cw + 4
    rows_h = S * scale + th + 4
    img = Image.new("RGB", (W, th + len(pick) * rows_h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for k, name in enumerate(["source", "target", "PyTorch", "runtime"][:cols]):
        d.text((4 + k * cw, 1), name, fill=(0, 0, 0))
    for r, i in enumerate(pick):
        y = th + r * rows_h
        d.text((4, y), f"{TASK_NAMES[int(test['task'][i])]}: {test['instruction'][i]}"[:70], fill=(0, 0, 120))
        ims = [test["source"][i], test["target"][i], np.asarray(Image.open(os.path.join(pt_dir, f"case_{i:04d}.png")))]
        if rt_dir:
            ims.append(np.asarray(Image.open(os.path.join(rt_dir, f"case_{i:04d}.png")).convert("RGB")))
        for k, a in enumerate(ims):
            im = Image.fromarray(a).resize((S * scale, S * scale), Image.NEAREST)
            img.paste(im, (4 + k * cw, y + th))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path, optimize=True)


CASE_SEED = 1  # runtime/tests/demo_model.rs edits the cases with this seed, 4 steps, the case's task


def write_cases(test: Dict, path: str, names: Dict[str, int], ed: Optional["TorchEditor"] = None):
    """Fixed cases for runtime/tests/demo_model.rs: u8 tensors NAME.source / NAME.target [H,W,3] (and NAME.pytorch, the
    reference pipeline's edit with CASE_SEED, 4 steps and the case's task, when ed is given), the instruction and task
    id in the metadata."""
    from safetensors.numpy import save_file
    tensors, meta = {}, {}
    for name, i in names.items():
        tensors[f"{name}.source"] = np.ascontiguousarray(test["source"][i])
        tensors[f"{name}.target"] = np.ascontiguousarray(test["target"][i])
        if ed is not None:
            tensors[f"{name}.pytorch"] = np.ascontiguousarray(
                ed.edit(test["source"][i], test["instruction"][i], int(test["task"][i]), CASE_SEED))
        meta[f"{name}.instruction"] = test["instruction"][i]
        meta[f"{name}.task"] = str(int(test["task"][i]))
    save_file(tensors, path, metadata=meta)


# ------------------------------------------------------------------------------------------------------------------

def stage_eval(cfg, work: str, model_dir: str, out: str, log, per_task: Optional[int] = None,
               runtime: Optional[str] = None, grid_path: Optional[str] = None, seed: int = 0,
               runtime_args: Optional[List[str]] = None, runtime_per_task: Optional[int] = None):
    from .demo import load_split
    test = load_split(work, "test")
    cases = select_cases(test, per_task or cfg.n_test_per_task)
    ev = os.path.join(out, "eval")
    os.makedirs(ev, exist_ok=True)
    ed = TorchEditor(model_dir, cfg)
    err = check_compression(ed, test["instruction"][0], test["source"][0], int(test["task"][0]))
    log(f"compressed text vs 512 tokens: relative L2 {err:.2e}")
    routing = routing_accuracy(ed, test["instruction"], test["task"].tolist())
    log(f"routing accuracy (greedy, held-out): {100 * routing['accuracy']:.1f}% of {routing['n']}")
    pt = eval_pytorch(ed, test, cases, seed, os.path.join(ev, "pytorch"), log)
    use = text_use(ed, test, seed=seed)
    log(f"text use: recolour edits naming another colour differ from the originals by {use:.1f} dB PSNR over the "
        "edit region (~60 = the text is ignored)")
    rt = None
    if runtime:
        rt_cases = select_cases(test, runtime_per_task or per_task or cfg.n_test_per_task)
        rt = eval_runtime(runtime, test, rt_cases, seed, os.path.join(ev, "runtime"), log, runtime_args)
    spt = summarize(pt)
    srt = summarize(rt) if rt else None
    tab = table(spt, srt)
    log("\n" + tab)
    with open(os.path.join(ev, "scores.json"), "w") as f:
        json.dump({"routing": routing, "text_use_psnr": use, "pytorch": spt, "runtime": srt, "compression_rel_l2": err,
                   "cases": {str(k): v for k, v in pt.items()},
                   "runtime_cases": {str(k): v for k, v in (rt or {}).items()}}, f, indent=2)
    with open(os.path.join(ev, "table.md"), "w") as f:
        f.write(tab)
    if grid_path:
        grid(test, sorted(rt) if rt else cases, os.path.join(ev, "pytorch"), os.path.join(ev, "runtime") if rt else None,
             grid_path)
        log(f"grid: {grid_path}")
    return spt, srt, routing


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo")
    ap.add_argument("--per-task", type=int, default=None, help="cases per task (default: all held-out)")
    ap.add_argument("--runtime", nargs="?", const="target/release/x2edit", default=None,
                    help="also run the runtime CLI (default target/release/x2edit) on the cases")
    ap.add_argument("--grid", default=None, help="write a picture grid (e.g. docs/demo-grid.png)")
    ap.add_argument("--cases", default=None, help="write the fixed test cases for runtime/tests/demo_model.rs")
    ap.add_argument("--case-tasks", default="removal,addition,style,background,color,tone,camera",
                    help="tasks of the fixed cases (the first held-out case of each; default: the seven trained tasks, "
                         "the names runtime/tests/demo_model.rs reads)")
    ap.add_argument("--runtime-per-task", type=int, default=None, help="cases per task for the runtime (default: --per-task)")
    ap.add_argument("--model-dir", default=None,
                    help="GGUF folder for the runtime (default: the CLI's embedded demo model)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from .common import set_threads
    from .demo import Log, run_config
    set_threads()
    cfg = run_config(a.out)
    log = Log(os.path.join(a.out, "log.txt"))
    stage_eval(cfg, os.path.join(a.out, "work"), os.path.join(a.out, "model"), a.out, log, a.per_task, a.runtime,
               a.grid, a.seed, ["--model-dir", a.model_dir] if a.model_dir else None, a.runtime_per_task)
    if a.cases:
        from .demo import load_split
        test = load_split(os.path.join(a.out, "work"), "test")
        names = {}
        for name in a.case_tasks.split(","):
            names[name] = [i for i in select_cases(test, 1) if int(test["task"][i]) == TASK_IDS[name]][0]
        write_cases(test, a.cases, names, TorchEditor(os.path.join(a.out, "model"), cfg))
        log(f"cases: {a.cases} ({', '.join(names)})")


if __name__ == "__main__":
    main()
