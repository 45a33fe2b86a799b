"""Choose between candidate demo-model runs on a validation split that neither training (seed 0) nor the held-out
table (seed 1000) uses, so the held-out numbers stay unbiased by the choice.

    python -m train.demo_select runs/f1 runs/f2 [--per-task 8] [--val runs/val]

Each run's OUT/model is edited in PyTorch with the gold task id (the DiT alone, not the router) on the first
--per-task validation cases of every task; prints the mean region PSNR of source and edit per task and the overall
gain, and names the run with the largest mean region gain.
"""
import argparse
import os
from typing import Dict, List

import numpy as np

from .demo import run_config
from .demo_eval import TorchEditor, scores, select_cases
from .synthetic import TASK_NAMES

VAL_SEED = 2000


def val_split(val: str, cfg) -> Dict:
    """The validation cases (written once under VAL/work as a 'test' split with seed 2000)."""
    from .demo import load_split, write_split
    work = os.path.join(val, "work")
    if not os.path.exists(os.path.join(work, "test.npz")):
        os.makedirs(work, exist_ok=True)
        write_split(cfg, work, "test", VAL_SEED, cfg.n_test_per_task * len(cfg.tasks), print)
    return load_split(work, "test")


def evaluate(run: str, val: Dict, cases: List[int], seed: int) -> Dict[str, List[float]]:
    cfg = run_config(run)
    ed = TorchEditor(os.path.join(run, "model"), cfg)
    per: Dict[str, List[float]] = {}
    for i in cases:
        t = int(val["task"][i])
        s = scores(ed.edit(val["source"][i], val["instruction"][i], t, seed + i), val["source"][i], val["target"][i])
        per.setdefault(TASK_NAMES[t], []).append((s["region_source"], s["region"]))
    return per


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders (each with model/ as train.demo writes it)")
    ap.add_argument("--val", default="runs/val", help="validation folder (created on first use)")
    ap.add_argument("--per-task", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from .common import set_threads
    set_threads()
    val = val_split(a.val, run_config(a.runs[0]))
    cases = select_cases(val, a.per_task)
    gains = {}
    for run in a.runs:
        per = evaluate(run, val, cases, a.seed)
        cells = [f"{name} {np.mean([s for s, _ in v]):.1f}->{np.mean([e for _, e in v]):.1f}" for name, v in per.items()]
        gains[run] = float(np.mean([e - s for v in per.values() for s, e in v]))
        print(f"{run}: region PSNR (gold task) {', '.join(cells)}; mean gain {gains[run]:+.2f} dB", flush=True)
    print(f"best: {max(gains, key=gains.get)}")


if __name__ == "__main__":
    main()
