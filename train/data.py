"""A small dataset loader for (source, instruction, task, target) records.

Records come from a JSONL file (one object per line; paths relative to the file):
    {"source": "src/0001.png", "target": "tgt/0001.png", "instruction": "make it red", "task": 5}
`task` is an id 0..15 or one of X2Edit's training aliases (X2E src/custom_dataset_1024.py::to_type_id).
Images are resized like X2Edit: mode "1024" -> nearest-aspect bucket (bilinear resize, distorting), mode "512" ->
short side 512 + center crop, or a fixed (H, W) for tests. Source and target get the same size.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

BUCKETS_1024 = [(720, 1456), (752, 1392), (784, 1312), (832, 1248), (880, 1184), (944, 1104), (1024, 1024),
                (1104, 944), (1184, 880), (1248, 832), (1312, 784), (1392, 752), (1456, 720)]

TASK_ALIASES: Dict[int, List[str]] = {
    1: ["删除主体", "removal", "remove", "ObjectRemoval", "WaterMarkRemoval", "SnowRemoval"],
    2: ["添加主体", "addition", "add"],
    3: ["风格更改", "style", "style_change", "change style"],
    4: ["背景更改", "background_change", "change background"],
    5: ["颜色更改", "color_alter", "Colorization"],
    6: ["材料更改", "material_alter", "材质更改", "material_change", "visual_material_change"],
    7: ["动作更改", "motion_change", "action_change", "attribute_modification"],
    8: ["替换主体", "subject-replace", "swap", "replace", "replace object"],
    9: ["人物修图", "ps_human", "appearance_alter", "change expression"],
    10: ["文字更改", "text_change", "text change"],
    11: ["色调变换", "色调迁移", "tune_transfer", "tone_transfer"],
    12: ["相机移动", "movement", "rotation_change", "resize", "Camera Move Editing"],
    13: ["implicit_change", "Reasoning", "relation", "Reasoning Editing"],
    14: ["low_leval"],
    15: ["subject", "style transfer"],
}
_ALIAS = {a: k for k, v in TASK_ALIASES.items() for a in v}


def task_to_id(task: Union[int, str]) -> int:
    if isinstance(task, int) or (isinstance(task, str) and task.isdigit()):
        t = int(task)
        if not 0 <= t < 16:
            raise ValueError(f"task id {t} out of range 0..15")
        return t
    if task not in _ALIAS:
        raise ValueError(f"unknown task {task!r}")
    return _ALIAS[task]


def closest_bucket(h: int, w: int) -> Tuple[int, int]:
    aspect = h / w  # X2Edit (infer.py::find_closest_aspect_bucket) compares H/W against bucket[0]/bucket[1]
    return min(BUCKETS_1024, key=lambda b: abs(b[0] / b[1] - aspect))


def _resize(img: Image.Image, size: Tuple[int, int]) -> Image.Image:
    return img.resize((size[1], size[0]), Image.BILINEAR)


def prepare_image(img: Image.Image, mode: Union[str, Tuple[int, int]]) -> Image.Image:
    img = img.convert("RGB")
    if mode == "1024":
        return _resize(img, closest_bucket(img.height, img.width))
    if mode == "512":
        w, h = img.size
        if int(w * 512 / h) >= 512:
            img = _resize(img, (512, int(w * 512 / h)))
        else:
            img = _resize(img, (int(h * 512 / w), 512))
        w, h = img.size
        left, top = int(round((w - 512) / 2.0)), int(round((h - 512) / 2.0))
        return img.crop((left, top, left + 512, top + 512))
    return _resize(img, tuple(mode))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """[3,H,W] in [-1,1]."""
    a = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1) * 2.0 - 1.0


class EditDataset(Dataset):
    def __init__(self, records: Union[str, Sequence[Dict]], size: Union[str, Tuple[int, int]] = "512",
                 root: Optional[str] = None):
        if isinstance(records, str):
            root = root or os.path.dirname(os.path.abspath(records))
            with open(records, encoding="utf-8") as f:
                records = [json.loads(line) for line in f if line.strip()]
        self.records = list(records)
        self.root = root or "."
        self.size = size

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        r = self.records[i]
        src = Image.open(os.path.join(self.root, r["source"]))
        tgt = Image.open(os.path.join(self.root, r["target"]))
        src = prepare_image(src, self.size)
        tgt = prepare_image(tgt, (src.height, src.width))
        return {"source": to_tensor(src), "target": to_tensor(tgt), "instruction": r["instruction"],
                "task": task_to_id(r["task"])}


def collate(batch):
    return {"source": torch.stack([b["source"] for b in batch]), "target": torch.stack([b["target"] for b in batch]),
            "instruction": [b["instruction"] for b in batch],
            "task": torch.tensor([b["task"] for b in batch], dtype=torch.int64)}


def make_synthetic_dataset(out_dir: str, n: int = 8, size: Tuple[int, int] = (32, 32), seed: int = 0) -> str:
    """Writes n (source, target) PNG pairs + records.jsonl: two tasks (colour change: channels rotated; removal:
    the square is erased). Returns the JSONL path."""
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    H, W = size
    lines = []
    for i in range(n):
        base = np.zeros((H, W, 3), np.float32)
        base[..., 0] = rng.uniform(40, 200)
        base[..., 1] = np.linspace(rng.uniform(0, 120), rng.uniform(120, 255), W)[None, :]
        base[..., 2] = np.linspace(rng.uniform(0, 120), rng.uniform(120, 255), H)[:, None]
        y0, x0 = rng.integers(0, H // 2), rng.integers(0, W // 2)
        src = base.copy()
        src[y0:y0 + H // 3, x0:x0 + W // 3] = rng.uniform(0, 255, 3)
        if i % 2 == 0:
            tgt, task, ins = src[..., ::-1].copy(), "color_alter", "Change the colors: swap red and blue."
        else:
            tgt, task, ins = base, "remove", "Remove the square."
        Image.fromarray(src.astype(np.uint8)).save(os.path.join(out_dir, f"src_{i}.png"))
        Image.fromarray(tgt.astype(np.uint8)).save(os.path.join(out_dir, f"tgt_{i}.png"))
        lines.append({"source": f"src_{i}.png", "target": f"tgt_{i}.png", "instruction": ins, "task": task})
    path = os.path.join(out_dir, "records.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in lines:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path
