"""Procedural instruction-editing dataset for the embedded demo model (issue 10).

Small scenes (default 64x64): a plain or patterned background (stripes, checkerboard) and one or two objects
(circle, square, triangle, or a letter glyph) in basic colours at named slots (left, center, right). Each sample
is (source image, instruction, X2Edit task id, target image) for nine of X2Edit's tasks (reference/x2edit.md
section 3 table):

    id  task                   edits
     1  subject removal        remove an object (the background shows through)
     2  subject addition       add a coloured shape at a free slot
     3  style change           outline drawing, inverted colours, pixelated
     4  background change      new plain colour, stripes or checkerboard
     5  colour change          recolour one object
     8  subject replacement    replace a shape by another shape (same colour and place)
    10  text change            change the letter of a glyph
    11  tone transfer          grayscale, sepia, warmer, cooler, darker, brighter
    12  camera move            zoom in / out, pan left / right / up / down

Instructions are drawn from several phrasings per task (with optional politeness prefixes, capitalisation and
trailing punctuation). Everything is deterministic: sample i of seed s depends only on (s, i). Images are
rendered in scene coordinates with 4x4 supersampling, so camera moves reveal the (procedural) background.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

TASK_NAMES = {1: "removal", 2: "addition", 3: "style", 4: "background", 5: "color", 8: "replace", 10: "text",
              11: "tone", 12: "camera"}
TASKS = sorted(TASK_NAMES)
TASK_IDS = {name: t for t, name in TASK_NAMES.items()}

COLORS: Dict[str, Tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 90, 220), "yellow": (245, 210, 40),
    "purple": (140, 60, 190), "orange": (245, 135, 30), "white": (245, 245, 245), "black": (25, 25, 25),
}
OBJ_COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
BG_COLORS = ["white", "black", "gray", "pink", "cyan", "beige", "navy", "lime"]
BG_RGB: Dict[str, Tuple[int, int, int]] = {
    "white": (235, 235, 235), "black": (30, 30, 30), "gray": (128, 128, 128), "pink": (245, 170, 200),
    "cyan": (90, 210, 225), "beige": (225, 205, 160), "navy": (25, 35, 100), "lime": (170, 230, 80),
}
SHAPES = ["circle", "square", "triangle"]
LETTERS = "ABCEFHKLOTXZ"
SLOTS = {"left": (0.28, 0.5), "center": (0.5, 0.5), "right": (0.72, 0.5)}
RADIUS = 0.17
STROKE = 0.045

# 5x7 glyphs, rows top to bottom
FONT = {
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01111", "10000", "10000", "10000", "10000", "10000", "01111"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
}
FONT_BITS = {k: np.array([[c == "1" for c in row] for row in v], dtype=bool) for k, v in FONT.items()}


@dataclass
class Obj:
    kind: str  # circle | square | triangle | letter
    color: str
    slot: str
    char: str = ""

    @property
    def noun(self) -> str:
        return f"letter {self.char}" if self.kind == "letter" else self.kind


@dataclass
class Background:
    kind: str  # plain | stripes | vstripes | checker
    c1: str
    c2: str = "white"


@dataclass
class Scene:
    bg: Background
    objs: List[Obj] = field(default_factory=list)


@dataclass
class Camera:
    zoom: float = 1.0
    pan: Tuple[float, float] = (0.0, 0.0)  # scene offset of the view centre


@dataclass
class Sample:
    source: np.ndarray  # [H,W,3] uint8
    target: np.ndarray
    instruction: str
    task: int
    meta: Dict


# ------------------------------------------------------------------------------------------------------------------
# rendering

def _rgb(name: str) -> np.ndarray:
    return np.array(COLORS.get(name) or BG_RGB[name], np.float32)


def _bg_layer(bg: Background, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    c1 = _rgb(bg.c1)
    if bg.kind == "plain":
        return np.broadcast_to(c1, u.shape + (3,)).copy()
    c2 = _rgb(bg.c2)
    p = 0.125
    if bg.kind == "stripes":
        m = (np.floor(v / p) % 2) == 0
    elif bg.kind == "vstripes":
        m = (np.floor(u / p) % 2) == 0
    elif bg.kind == "checker":
        m = ((np.floor(u / p) + np.floor(v / p)) % 2) == 0
    else:
        raise ValueError(bg.kind)
    return np.where(m[..., None], c1, c2)


def _tri(du, dv, r):
    # upward triangle: apex (0, -0.95r), base at +0.8r with half width 0.95r
    top, bot, hw = -0.95 * r, 0.8 * r, 0.95 * r
    t = (dv - top) / (bot - top)
    return (dv >= top) & (dv <= bot) & (np.abs(du) <= t * hw)


def _mask(o: Obj, u: np.ndarray, v: np.ndarray, outline: bool) -> np.ndarray:
    cx, cy = SLOTS[o.slot]
    du, dv = u - cx, v - cy
    r = RADIUS
    if o.kind == "circle":
        d = np.sqrt(du * du + dv * dv)
        m = d <= r
        return m & (d >= r - STROKE) if outline else m
    if o.kind == "square":
        d = np.maximum(np.abs(du), np.abs(dv))
        m = d <= 0.85 * r
        return m & (d >= 0.85 * r - STROKE) if outline else m
    if o.kind == "triangle":
        m = _tri(du, dv, r)
        if outline:
            s = 1.0 - 2.6 * STROKE / r
            inner = _tri(du / s, (dv - 0.1 * r * (1 - s)) / s, r)
            m = m & ~inner
        return m
    if o.kind == "letter":
        cell = 2 * r / 7
        gx = np.floor((du + 2.5 * cell) / cell).astype(np.int64)
        gy = np.floor((dv + 3.5 * cell) / cell).astype(np.int64)
        inside = (gx >= 0) & (gx < 5) & (gy >= 0) & (gy < 7)
        bits = FONT_BITS[o.char]
        return inside & bits[np.clip(gy, 0, 6), np.clip(gx, 0, 4)]
    raise ValueError(o.kind)


def render(scene: Scene, size: int = 64, cam: Camera = Camera(), outline: bool = False, ss: int = 4) -> np.ndarray:
    """[size,size,3] uint8, anti-aliased by ss x ss supersampling."""
    n = size * ss
    g = (np.arange(n, dtype=np.float32) + 0.5) / n
    ux = 0.5 + (g - 0.5) / cam.zoom + cam.pan[0]  # scene u of each column
    vy = 0.5 + (g - 0.5) / cam.zoom + cam.pan[1]  # scene v of each row
    u, v = np.meshgrid(ux, vy)
    img = _bg_layer(scene.bg, u, v)
    for o in scene.objs:
        cx, cy = SLOTS[o.slot]
        r = RADIUS * 1.05
        cols = np.nonzero((ux >= cx - r) & (ux <= cx + r))[0]
        rows = np.nonzero((vy >= cy - r) & (vy <= cy + r))[0]
        if len(cols) == 0 or len(rows) == 0:
            continue
        sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        m = _mask(o, u[sl], v[sl], outline and o.kind != "letter")
        img[sl][m] = _rgb(o.color)
    img = img.reshape(size, ss, n * 3).sum(axis=1).reshape(size, size, ss, 3).sum(axis=2) / (ss * ss)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def tone(img: np.ndarray, kind: str) -> np.ndarray:
    x = img.astype(np.float32)
    if kind == "grayscale":
        y = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = np.repeat(y[..., None], 3, axis=-1)
    elif kind == "sepia":
        m = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)
        x = x @ m.T
    elif kind == "warm":
        x = x + np.array([45, 10, -45], np.float32)
    elif kind == "cool":
        x = x + np.array([-45, 5, 45], np.float32)
    elif kind == "dark":
        x = x * 0.5
    elif kind == "bright":
        x = x + (255 - x) * 0.5
    elif kind == "invert":
        x = 255 - x
    elif kind == "pixelate":
        H, W, _ = x.shape
        b = H // 8
        x = x.reshape(H // b, b, W // b, b, 3).mean(axis=(1, 3))
        x = np.repeat(np.repeat(x, b, axis=0), b, axis=1)
    else:
        raise ValueError(kind)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------------------------
# instructions

def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


PREFIXES = ["", "", "", "", "please ", "can you ", "could you ", "now "]


def _finish(rng, text: str) -> str:
    text = _pick(rng, PREFIXES) + text
    if rng.random() < 0.6:
        text = text[0].upper() + text[1:]
    r = rng.random()
    if r < 0.45:
        text += "."
    elif r < 0.5:
        text += "!"
    if text.lower().startswith(("can you", "could you")) and text.endswith("."):
        text = text[:-1] + "?"
    return text


def _ref(rng, o: Obj) -> str:
    """Referring expression: 'the circle', 'the red circle', 'the letter A'."""
    if o.kind == "letter":
        return _pick(rng, [f"the letter {o.char}", f"the {o.char}", f"the {o.color} letter {o.char}"])
    return _pick(rng, [f"the {o.kind}", f"the {o.color} {o.kind}", f"the {o.kind}"])


def _where(rng, slot: str) -> str:
    if slot == "center":
        return _pick(rng, ["in the center", "in the middle", "at the center"])
    return _pick(rng, [f"on the {slot}", f"on the {slot} side", f"to the {slot}"])


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ------------------------------------------------------------------------------------------------------------------
# scenes and edits

def _random_bg(rng, avoid: Sequence[str] = ()) -> Background:
    kind = _pick(rng, ["plain", "plain", "plain", "stripes", "vstripes", "checker"])
    c1 = _pick(rng, [c for c in BG_COLORS if c not in avoid])
    c2 = _pick(rng, [c for c in BG_COLORS if c != c1 and c not in avoid])
    return Background(kind, c1, c2)


def _obj_color(rng, bg: Background, exclude: Sequence[str] = ()) -> str:
    bad = {"white": ("white", "beige", "cyan", "lime", "pink"), "black": ("black", "navy", "gray"),
           "yellow": ("lime", "beige"), "green": ("lime",), "blue": ("navy",), "purple": ("navy",)}
    bgs = {bg.c1} | ({bg.c2} if bg.kind != "plain" else set())
    ok = [c for c in OBJ_COLORS if c not in exclude and not (bgs & set(bad.get(c, ())))]
    return _pick(rng, ok or [c for c in OBJ_COLORS if c not in exclude])


def _random_scene(rng, n_objs: int, need_letter: bool = False, need_shape: bool = False,
                  free_side: bool = False) -> Scene:
    bg = _random_bg(rng)
    if n_objs == 1:
        slots = [_pick(rng, ["left", "right"] if free_side else ["left", "center", "right"])]
    else:
        slots = ["left", "right"]
    kinds = list(rng.permutation(SHAPES + ["letter"]))
    if need_letter and "letter" not in kinds[:n_objs]:
        kinds.remove("letter")
        kinds.insert(int(rng.integers(n_objs)), "letter")
    if need_shape and all(k == "letter" for k in kinds[:n_objs]):
        kinds.remove("letter")
    objs, used = [], []
    for slot, kind in zip(slots, kinds[:n_objs]):
        col = _obj_color(rng, bg, used)
        used.append(col)
        objs.append(Obj(kind, col, slot, _pick(rng, LETTERS) if kind == "letter" else ""))
    return Scene(bg, objs)


def make_sample(seed: int, index: int, size: int = 64, task: Optional[int] = None) -> Sample:
    rng = np.random.default_rng([seed, index])
    if task is None:
        task = TASKS[index % len(TASKS)]
    n = 1 + int(rng.random() < 0.5)
    meta: Dict = {"task": TASK_NAMES[task]}
    outline = False
    cam = Camera()
    post = None
    if task == 5:  # colour change
        sc = _random_scene(rng, n)
        o = _pick(rng, sc.objs)
        new = _obj_color(rng, sc.bg, [x.color for x in sc.objs])
        tgt = copy.deepcopy(sc)
        tgt.objs[sc.objs.index(o)].color = new
        r, noun = _ref(rng, o), o.noun
        ins = _pick(rng, [f"make {r} {new}", f"change the color of {r} to {new}", f"turn {r} {new}",
                          f"paint {r} {new}", f"recolor {r} {new}", f"color {r} {new}", f"change {r} to {new}",
                          f"make the {noun} {new} instead of {o.color}"])
        meta.update(obj=o.noun, slot=o.slot, color=new)
    elif task == 1:  # removal
        sc = _random_scene(rng, n)
        o = _pick(rng, sc.objs)
        tgt = copy.deepcopy(sc)
        tgt.objs = [x for x in tgt.objs if x.slot != o.slot]
        r = _ref(rng, o)
        ins = _pick(rng, [f"remove {r}", f"delete {r}", f"erase {r}", f"take away {r}", f"get rid of {r}",
                          f"remove {r} from the picture", f"delete {r} from the image"])
        meta.update(obj=o.noun, slot=o.slot)
    elif task == 2:  # addition
        sc = _random_scene(rng, 1, free_side=True) if rng.random() < 0.7 else Scene(_random_bg(rng), [])
        free = [s for s in (["left", "right"] if sc.objs else ["left", "center", "right"])
                if all(x.slot != s for x in sc.objs)]
        slot = _pick(rng, free)
        kind = _pick(rng, [k for k in SHAPES if all(x.kind != k for x in sc.objs)])
        col = _obj_color(rng, sc.bg, [x.color for x in sc.objs])
        tgt = copy.deepcopy(sc)
        tgt.objs.append(Obj(kind, col, slot))
        a, w = f"{_article(col)} {col} {kind}", _where(rng, slot)
        ins = _pick(rng, [f"add {a} {w}", f"put {a} {w}", f"place {a} {w}", f"insert {a} {w}", f"draw {a} {w}",
                          f"add {a} {w} of the image"])
        meta.update(obj=kind, slot=slot, color=col)
    elif task == 4:  # background
        sc = _random_scene(rng, n)
        kind = _pick(rng, ["plain", "plain", "stripes", "checker"])
        cols = [x.color for x in sc.objs]
        c1 = _pick(rng, [c for c in BG_COLORS if c != sc.bg.c1 and c not in cols and c != "white"])
        nb = Background(kind, c1, "white")
        tgt = copy.deepcopy(sc)
        tgt.bg = nb
        if kind == "plain":
            ins = _pick(rng, [f"make the background {c1}", f"change the background to {c1}",
                              f"change the background color to {c1}", f"use a {c1} background",
                              f"replace the background with a {c1} one", f"set the background to {c1}"])
        else:
            pat = "stripes" if kind == "stripes" else "checkerboard"
            ins = _pick(rng, [f"change the background to {c1} and white {pat}",
                              f"make the background {c1} {pat}", f"use a {c1} {pat} background",
                              f"replace the background with {c1} and white {pat}"])
        meta.update(bg=f"{kind}:{c1}")
    elif task == 8:  # replacement
        sc = _random_scene(rng, n, need_shape=True)
        o = _pick(rng, [x for x in sc.objs if x.kind != "letter"])
        kind = _pick(rng, [k for k in SHAPES if all(x.kind != k for x in sc.objs)])
        tgt = copy.deepcopy(sc)
        tgt.objs[sc.objs.index(o)].kind = kind
        r = _ref(rng, o)
        a = f"{_article(kind)} {kind}"
        ins = _pick(rng, [f"replace {r} with {a}", f"swap {r} for {a}", f"turn {r} into {a}",
                          f"change {r} into {a}", f"replace {r} by {a}", f"exchange {r} for {a}"])
        meta.update(obj=o.noun, slot=o.slot, new=kind)
    elif task == 10:  # text
        sc = _random_scene(rng, n, need_letter=True)
        o = [x for x in sc.objs if x.kind == "letter"][0]
        new = _pick(rng, [c for c in LETTERS if c != o.char])
        tgt = copy.deepcopy(sc)
        tgt.objs[sc.objs.index(o)].char = new
        ins = _pick(rng, [f"change the letter {o.char} to {new}", f"replace the letter {o.char} with {new}",
                          f"change the text to {new}", f"make the letter say {new}",
                          f"change the text from {o.char} to {new}", f"write {new} instead of {o.char}",
                          f"replace the text {o.char} with the letter {new}"])
        meta.update(obj="letter", slot=o.slot, char=new)
    elif task == 11:  # tone
        sc = _random_scene(rng, n)
        tgt = sc
        kind = _pick(rng, ["grayscale", "sepia", "warm", "cool", "dark", "bright"])
        post = kind
        ins = {
            "grayscale": ["make it grayscale", "convert the image to black and white", "make the photo grayscale",
                          "remove all color", "turn it into a black and white image"],
            "sepia": ["apply a sepia tone", "make it sepia", "give it a vintage sepia look",
                      "convert the image to sepia"],
            "warm": ["make the tone warmer", "give it a warm tone", "make the colors warmer", "warm up the image"],
            "cool": ["make the tone cooler", "give it a cool blue tone", "make the colors colder",
                     "cool down the image"],
            "dark": ["make it darker", "darken the image", "lower the brightness", "make the picture dim"],
            "bright": ["make it brighter", "brighten the image", "increase the brightness",
                       "make the picture lighter"],
        }[kind]
        ins = _pick(rng, ins)
        meta.update(tone=kind)
    elif task == 12:  # camera
        sc = _random_scene(rng, n)
        tgt = sc
        kind = _pick(rng, ["zoom_in", "zoom_out", "left", "right", "up", "down"])
        d = 0.25
        cam = {"zoom_in": Camera(1.6), "zoom_out": Camera(1 / 1.6), "left": Camera(1.0, (-d, 0.0)),
               "right": Camera(1.0, (d, 0.0)), "up": Camera(1.0, (0.0, -d)), "down": Camera(1.0, (0.0, d))}[kind]
        ins = {
            "zoom_in": ["zoom in", "zoom in on the center", "move the camera closer", "get a closer view"],
            "zoom_out": ["zoom out", "move the camera back", "zoom out to show more", "pull the camera back"],
            "left": ["move the camera to the left", "pan left", "pan the camera left", "shift the view to the left"],
            "right": ["move the camera to the right", "pan right", "pan the camera right",
                      "shift the view to the right"],
            "up": ["move the camera up", "tilt the camera up", "pan up", "shift the view upward"],
            "down": ["move the camera down", "tilt the camera down", "pan down", "shift the view downward"],
        }[kind]
        ins = _pick(rng, ins)
        meta.update(camera=kind)
    elif task == 3:  # style
        sc = _random_scene(rng, n)
        tgt = sc
        kind = _pick(rng, ["outline", "outline", "invert", "pixelate"])
        if kind == "outline":
            outline = True
            ins = _pick(rng, ["draw the shapes as outlines", "make it a line drawing", "use an outline style",
                              "turn the shapes into outlines", "change the style to outline drawing"])
        elif kind == "invert":
            post = "invert"
            ins = _pick(rng, ["invert the colors", "make it a negative", "change the style to a photo negative",
                              "invert the image"])
        else:
            post = "pixelate"
            ins = _pick(rng, ["pixelate the image", "make it pixel art", "change the style to pixel art",
                              "turn it into big pixels"])
        meta.update(style=kind)
    else:
        raise ValueError(f"task {task} is not generated")
    src = render(sc, size)
    dst = render(tgt, size, cam, outline)
    if post is not None:
        dst = tone(dst, post)
    return Sample(src, dst, _finish(rng, ins), task, meta)


def all_instructions(seed: int, n: int) -> List[Tuple[str, int]]:
    """(instruction, task) of the first n samples (cheap: renders nothing)."""
    out = []
    for i in range(n):
        s = make_sample_text(seed, i)
        out.append(s)
    return out


def make_sample_text(seed: int, index: int, size: int = 8) -> Tuple[str, int]:
    s = make_sample(seed, index, size)
    return s.instruction, s.task


def make_dataset(seed: int, n: int, size: int = 64) -> List[Sample]:
    return [make_sample(seed, i, size) for i in range(n)]


def write_dataset(out_dir: str, seed: int, n: int, size: int = 64) -> str:
    """PNG pairs + records.jsonl (the train.data format). Returns the JSONL path."""
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "records.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            s = make_sample(seed, i, size)
            Image.fromarray(s.source).save(os.path.join(out_dir, f"src_{i:05d}.png"))
            Image.fromarray(s.target).save(os.path.join(out_dir, f"tgt_{i:05d}.png"))
            f.write(json.dumps({"source": f"src_{i:05d}.png", "target": f"tgt_{i:05d}.png",
                                "instruction": s.instruction, "task": s.task, "meta": s.meta}) + "\n")
    return path


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="write a synthetic editing dataset (PNG + records.jsonl)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-n", type=int, default=90)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    print(write_dataset(a.out, a.seed, a.n, a.size))
