"""Export the tiny models and the per-stage fixtures for the Rust runtime.

    python -m train.export_fixtures [--out tests/fixtures] [--only dit,sample,...]

Writes tests/fixtures/models/ (tiny models in the released formats) and tests/fixtures/<stage>/{inputs,expected}
.safetensors for every stage of reference/stage-interface.md, plus README.md listing every file and tensor.
Everything is seeded; running it twice gives the same tensors.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable, Dict, List, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from safetensors.torch import save_file

from .common import contiguous_dict, rel_l2, set_threads
from .configs import SCHNELL_SCHEDULER, X2EditConfig, tiny_config
from .flux import image_ids, text_ids
from .models import build_alignnet, build_transformer, load_transformer, write_transformer_files
from .moe_lora import MoEGate
from .sampler import euler_sample, flux_sigmas

# shapes shared by the dit / sample / edit fixtures: 48 x 80 image -> 6 x 10 latent -> 3 x 5 = 15 tokens
IMG_H, IMG_W = 48, 80
LAT_H, LAT_W = IMG_H // 8, IMG_W // 8
N_TOK = (LAT_H // 2) * (LAT_W // 2)
COND_OFFSET = 64
TASK_ID = 3
GUIDANCE = 3.5
DIT_SIGMA = 0.75
SAMPLE_STEPS = 4

SEED_INPUTS = 2024


class Ctx:
    def __init__(self, out: str, cfg: X2EditConfig):
        self.out = out
        self.models = os.path.join(out, "models")
        self.cfg = cfg
        self.notes: Dict[str, str] = {}
        self._cache = {}

    def transformer(self, source: str):
        if source not in self._cache:
            self._cache[source] = load_transformer(self.models, self.cfg, source)
        return self._cache[source]


def save_stage(ctx: Ctx, stage: str, inputs: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor],
               metadata: Optional[Dict[str, str]] = None):
    d = os.path.join(ctx.out, stage)
    os.makedirs(d, exist_ok=True)
    md = {k: str(v) for k, v in (metadata or {}).items()}
    save_file(contiguous_dict(inputs), os.path.join(d, "inputs.safetensors"), metadata=md or None)
    save_file(contiguous_dict(expected), os.path.join(d, "expected.safetensors"), metadata=md or None)


class GateRecorder:
    """Records the softmax probabilities of every MoE gate during one forward (to report top-2 margins)."""

    def __init__(self, model):
        self.probs: List[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules() if isinstance(m, MoEGate)]

    def _hook(self, mod, inp, out):
        self.probs.append(out[2].detach())

    def min_margin(self) -> float:
        """min over tokens and gates of (2nd largest - 3rd largest) probability: how far top-2 is from a tie."""
        m = 1.0
        for p in self.probs:
            s = p.sort(dim=-1, descending=True).values
            m = min(m, float((s[..., 1] - s[..., 2]).min()))
        return m

    def min_logit_margin(self) -> float:
        """the same gap in log-probability (= logit) units."""
        m = 1e9
        for p in self.probs:
            s = p.log().sort(dim=-1, descending=True).values
            m = min(m, float((s[..., 1] - s[..., 2]).min()))
        return m

    def close(self):
        for h in self.handles:
            h.remove()


# ------------------------------------------------------------------------------------------------------------------

def build_models(ctx: Ctx):
    t0 = time.time()
    model = build_transformer(ctx.cfg)
    align = build_alignnet(ctx.cfg)
    types = write_transformer_files(ctx.models, model, align, ctx.cfg)
    with open(os.path.join(ctx.models, "flux-community.types.json"), "w") as f:
        json.dump(types, f, indent=1, sort_keys=True)
        f.write("\n")
    from .vae import build_vae, write_vae_files
    write_vae_files(ctx.models, build_vae(ctx.cfg.vae), ctx.cfg.vae)
    from .models import build_text_encoder
    types = build_text_encoder(ctx.models, ctx.cfg)
    with open(os.path.join(ctx.models, "qwen2vl.types.json"), "w") as f:
        json.dump(types, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"[models] transformer/adapter written in {time.time() - t0:.1f}s")


def dit_inputs(ctx: Ctx) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(SEED_INPUTS)
    L = ctx.cfg.max_sequence_length
    f = ctx.cfg.flux
    return {
        "img": torch.randn(1, N_TOK, f.in_channels, generator=g),
        "cond": torch.randn(1, N_TOK, f.in_channels, generator=g) * 0.8,
        "txt": torch.randn(1, L, f.joint_attention_dim, generator=g),
        "pooled": torch.randn(1, f.pooled_projection_dim, generator=g),
        "timestep": torch.tensor([DIT_SIGMA], dtype=torch.float32),
        "guidance": torch.tensor([GUIDANCE], dtype=torch.float32),
        "img_ids": image_ids(LAT_H, LAT_W),
        "cond_ids": image_ids(LAT_H, LAT_W, COND_OFFSET),
        "txt_ids": text_ids(L),
        "task_id": torch.tensor([TASK_ID], dtype=torch.int64),
    }


def run_dit(model, inp, **kw):
    return model(inp["img"], inp["cond"], inp["txt"], inp["pooled"], inp["timestep"], inp["guidance"],
                 inp["img_ids"], inp["cond_ids"], inp["txt_ids"], task_id=inp["task_id"], **kw)


@torch.no_grad()
def export_dit(ctx: Ctx):
    inp = dit_inputs(ctx)
    m = ctx.transformer("diffusers")
    dbg: Dict[str, torch.Tensor] = {}
    rec = GateRecorder(m)
    v = run_dit(m, inp, debug=dbg)
    rec.close()
    margin = rec.min_margin()
    v_dense = run_dit(m, inp, moe_mode="dense")
    assert rel_l2(v_dense, v) < 1e-6, "sparse and dense MoE disagree"
    v_bfl = run_dit(ctx.transformer("bfl"), inp)
    assert torch.equal(v_bfl, v), "diffusers folder and BFL single file disagree"
    v_gguf = run_dit(ctx.transformer("community_gguf"), inp)
    v_nolora = run_dit(m, inp, use_lora=False)
    exp = {"velocity": v, "velocity.community_gguf": v_gguf, "debug.velocity_no_lora": v_nolora}
    exp.update({f"debug.{k}": t for k, t in dbg.items()
                if not (k.startswith("single_blocks.0.moe.k.") or k.startswith("single_blocks.0.moe.v."))})
    meta = {"moe_min_top2_margin": f"{margin:.3e}", "moe_min_top2_logit_margin": f"{rec.min_logit_margin():.3e}", "cond_offset": COND_OFFSET,
            "gguf_vs_float_rel_l2": f"{rel_l2(v_gguf, v):.4f}", "lora_effect_rel_l2": f"{rel_l2(v_nolora, v):.4f}"}
    save_stage(ctx, "dit", inp, exp, meta)
    ctx.notes["dit"] = str(meta)
    print(f"[dit] {meta}")


def sample_inputs(ctx: Ctx, schnell: bool = False) -> Dict[str, torch.Tensor]:
    d = dit_inputs(ctx)
    del d["img"], d["timestep"]
    g = torch.Generator().manual_seed(SEED_INPUTS + 1)
    d["noise"] = torch.randn(1, N_TOK, ctx.cfg.flux.in_channels, generator=g)
    sched = SCHNELL_SCHEDULER if schnell else ctx.cfg.scheduler
    d["sigmas"] = flux_sigmas(SAMPLE_STEPS, N_TOK, sched)
    return d


def run_sample(model, inp, debug=None):
    def vel(x, s):
        return model(x, inp["cond"], inp["txt"], inp["pooled"], s, inp["guidance"], inp["img_ids"], inp["cond_ids"],
                     inp["txt_ids"], task_id=inp["task_id"])
    return euler_sample(vel, inp["noise"], inp["sigmas"], debug)


@torch.no_grad()
def export_sample(ctx: Ctx):
    inp = sample_inputs(ctx)
    dbg: Dict[str, torch.Tensor] = {}
    lat = run_sample(ctx.transformer("diffusers"), inp, dbg)
    lat_gguf = run_sample(ctx.transformer("community_gguf"), inp)
    exp = {"latent": lat, "latent.community_gguf": lat_gguf}
    exp.update({f"debug.{k}": t for k, t in dbg.items()})
    meta = {"steps": SAMPLE_STEPS, "schedule": "FLUX.1-dev dynamic shift, mu from noise tokens",
            "image_seq_len": N_TOK, "sigmas": [round(float(s), 8) for s in inp["sigmas"]]}
    save_stage(ctx, "sample", inp, exp, meta)
    print(f"[sample] sigmas {meta['sigmas']}")

    inp = sample_inputs(ctx, schnell=True)
    dbg = {}
    lat = run_sample(ctx.transformer("schnell_bfl"), inp, dbg)
    exp = {"latent": lat}
    exp.update({f"debug.{k}": t for k, t in dbg.items()})
    meta = {"steps": SAMPLE_STEPS, "schedule": "schnell: shift 1.0, no dynamic shifting (unshifted)",
            "transformer": "models/transformer-schnell-bfl.safetensors (no guidance_in; guidance input ignored)",
            "sigmas": [round(float(s), 8) for s in inp["sigmas"]]}
    save_stage(ctx, "sample-schnell", inp, exp, meta)
    print(f"[sample-schnell] sigmas {meta['sigmas']}")


# ------------------------------------------------------------------------------------------------------------------
# text / align / route / tokenize

TEXT_PROMPT = "Change the color of the car to red."
ROUTE_INSTRUCTIONS = ["Remove the person on the left.", "把背景换成雪山。", "Make it look like a watercolor painting 🎨"]
ROUTE_MAX_NEW_TOKENS = 8


def _tokenizer(ctx: Ctx):
    from .text import load_tokenizer
    if "tok" not in ctx._cache:
        ctx._cache["tok"] = load_tokenizer(os.path.join(ctx.models, "text_encoder"))
    return ctx._cache["tok"]


def text_embeddings(ctx: Ctx, input_ids, attention_mask, source: str = "hf"):
    """-> hidden_states [1,layers+1,L,H], prompt_embeds [1,L,D], pooled [1,P] (+ AlignNet debug)."""
    from .models import load_alignnet, load_text_state_dict
    from .text import qwen_text_forward
    key = "text_sd." + source
    if key not in ctx._cache:
        ctx._cache[key] = load_text_state_dict(ctx.models, source)
    if "align" not in ctx._cache:
        ctx._cache["align"] = load_alignnet(ctx.models, ctx.cfg)
    hs = qwen_text_forward(ctx._cache[key], ctx.cfg.qwen, input_ids, attention_mask)
    dbg: Dict[str, torch.Tensor] = {}
    with torch.no_grad():
        pooled, emb = ctx._cache["align"](hs, dbg)
    return hs, emb, pooled, dbg


@torch.no_grad()
def export_text(ctx: Ctx):
    from .models import text_config_from_dir
    from .text import left_pad_position_ids, render_chat, tokenize
    text_config_from_dir(ctx.models, ctx.cfg)
    tok = _tokenizer(ctx)
    ids, mask = tokenize(tok, TEXT_PROMPT, "x2edit", ctx.cfg.max_sequence_length)
    hs, emb, pooled, _ = text_embeddings(ctx, ids, mask)
    hs_g, emb_g, pooled_g, _ = text_embeddings(ctx, ids, mask, "qwen2vl_gguf")
    exp = {"hidden_states": hs, "prompt_embeds": emb, "pooled": pooled,
           "prompt_embeds.qwen2vl_gguf": emb_g, "pooled.qwen2vl_gguf": pooled_g,
           "debug.position_ids": left_pad_position_ids(mask)}
    meta = {"prompt": TEXT_PROMPT, "prompt_format": "x2edit", "chat": render_chat(tok, TEXT_PROMPT, "x2edit"),
            "real_tokens": int(mask.sum()), "pad_rows": "un-masked (attend to all 512 keys), as on CUDA"}
    save_stage(ctx, "text", {"input_ids": ids, "attention_mask": mask}, exp, meta)
    # align: AlignNet alone, on the text fixture's hidden states
    _, emb2, pooled2, dbg = text_embeddings(ctx, ids, mask)
    exp = {"prompt_embeds": emb2, "pooled": pooled2}
    exp.update({f"debug.{k}": v for k, v in dbg.items()})
    save_stage(ctx, "align", {"hidden_states": hs}, exp, {"source": "text/expected.safetensors hidden_states"})
    print(f"[text] {int(mask.sum())} real tokens, gguf rel_l2 {rel_l2(emb_g, emb):.4f}")


@torch.no_grad()
def export_route(ctx: Ctx):
    from .models import load_text_state_dict, text_config_from_dir
    from .text import greedy_generate, load_hf_text_model, route_inputs, task_id_from_output
    text_config_from_dir(ctx.models, ctx.cfg)
    tok = _tokenizer(ctx)
    hf = load_hf_text_model(os.path.join(ctx.models, "text_encoder"))
    sd = load_text_state_dict(ctx.models)
    eos = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
    inputs, exp, texts = {}, {}, []
    for i, ins in enumerate(ROUTE_INSTRUCTIONS):
        chat, ids, mask = route_inputs(tok, ins)
        out = hf.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=ROUTE_MAX_NEW_TOKENS,
                          eos_token_id=eos, pad_token_id=eos[1], repetition_penalty=1.0, temperature=None,
                          top_p=None, top_k=None)
        gen = out[:, ids.shape[1]:]
        ours = greedy_generate(sd, ctx.cfg.qwen, ids, ROUTE_MAX_NEW_TOKENS, eos)
        assert torch.equal(gen, ours), (gen, ours)
        decoded = tok.decode(gen[0], skip_special_tokens=True)
        inputs[f"input_ids.{i}"], inputs[f"attention_mask.{i}"] = ids, mask
        exp[f"generated_ids.{i}"] = gen
        exp[f"debug.logits.{i}"] = hf(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, -1].float()
        hf.rope_deltas = None
        exp[f"task_id.{i}"] = torch.tensor([task_id_from_output(decoded)], dtype=torch.int64)
        texts.append({"instruction": ins, "chat": chat, "decoded": decoded})
    meta = {"instructions": json.dumps(ROUTE_INSTRUCTIONS, ensure_ascii=False),
            "max_new_tokens": ROUTE_MAX_NEW_TOKENS, "eos_token_ids": json.dumps(eos),
            "decoding": "greedy (do_sample=False, no repetition penalty); stops after emitting an eos id"}
    save_stage(ctx, "route", inputs, exp, meta)
    with open(os.path.join(ctx.out, "route", "prompts.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"[route] {[t['decoded'] for t in texts]}")


@torch.no_grad()
def export_tokenize(ctx: Ctx):
    from .text import render_chat, tokenize
    tok = _tokenizer(ctx)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "data", "tokenize_prompts.json"), encoding="utf-8") as f:
        prompts = json.load(f)
    exp, listing = {}, []
    for fmt in ("x2edit", "raw"):
        ids, masks = [], []
        for p in prompts:
            a, b = tokenize(tok, p, fmt, ctx.cfg.max_sequence_length)
            ids.append(a)
            masks.append(b)
        exp[f"{fmt}.input_ids"] = torch.cat(ids)
        exp[f"{fmt}.attention_mask"] = torch.cat(masks)
    for i, p in enumerate(prompts):
        untrunc = {fmt: len(tok(render_chat(tok, p, fmt)).input_ids) for fmt in ("x2edit", "raw")}
        listing.append({"index": i, "prompt": p, "chat_x2edit": render_chat(tok, p, "x2edit"),
                        "chat_raw": render_chat(tok, p, "raw"), "untruncated_length": untrunc})
    d = os.path.join(ctx.out, "tokenize")
    os.makedirs(d, exist_ok=True)
    save_file(contiguous_dict(exp), os.path.join(d, "expected.safetensors"),
              metadata={"max_length": "512", "padding": "left with <|endoftext|>", "truncation": "right"})
    with open(os.path.join(d, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump(listing, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"[tokenize] {len(prompts)} prompts, lengths {[l['untruncated_length']['x2edit'] for l in listing]}")


# ------------------------------------------------------------------------------------------------------------------
# VAE and the whole edit

EDIT_PROMPT = "Make the sky look like a sunset with orange and pink clouds."
EDIT_STEPS = 4
SEED_NOISE_EDIT = 31337


def source_image() -> "np.ndarray":
    """A deterministic 48 x 80 RGB test picture: colour gradients, a rectangle, a disc and a thin diagonal line."""
    import numpy as np
    y, x = np.mgrid[0:IMG_H, 0:IMG_W].astype(np.float32)
    img = np.stack([40 + 180 * x / (IMG_W - 1), 60 + 150 * y / (IMG_H - 1), 200 - 120 * (x + y) / (IMG_W + IMG_H)], -1)
    img[10:30, 8:30] = [230, 40, 35]
    disc = (x - 58) ** 2 + (y - 26) ** 2 <= 11 ** 2
    img[disc] = [30, 90, 220]
    line = np.abs((y - 0.55 * x) - 2) < 0.8
    img[line] = [250, 250, 250]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _vae(ctx: Ctx):
    from .vae import load_vae
    if "vae" not in ctx._cache:
        ctx._cache["vae"] = load_vae(ctx.models, "diffusers")
        bfl = load_vae(ctx.models, "bfl", ctx.cfg.vae)
        a, b = ctx._cache["vae"].state_dict(), bfl.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), "vae/ and ae.safetensors disagree"
    return ctx._cache["vae"]


@torch.no_grad()
def export_vae(ctx: Ctx):
    from .pipeline import image_to_tensor
    from .vae import decode, encode_mean
    vae = _vae(ctx)
    img = image_to_tensor(source_image())
    dbg: Dict[str, torch.Tensor] = {}
    lat = encode_mean(vae, img, dbg)
    exp = {"latent_mean": lat}
    keep = ("encoder.down.1", "encoder.down.2", "encoder.down.3", "encoder.mid", "encoder.moments")
    exp.update({f"debug.{k}": v for k, v in dbg.items() if k in keep})
    meta = {"image": "edit/source.png as [1,3,48,80] = x/255*2-1", "latent": "(mean - 0.1159) * 0.3611"}
    save_stage(ctx, "vae-encode", {"image": img}, exp, meta)
    g = torch.Generator().manual_seed(SEED_INPUTS + 7)
    z = torch.randn(1, ctx.cfg.vae.latent_channels, LAT_H, LAT_W, generator=g)
    dbg = {}
    out = decode(vae, z, dbg)
    exp = {"image_decoded": out}
    keep = ("decoder.conv_in", "decoder.mid", "decoder.up.3", "decoder.up.2")
    exp.update({f"debug.{k}": v for k, v in dbg.items() if k in keep})
    save_stage(ctx, "vae-decode", {"latent": z}, exp, {"decode": "decoder(latent / 0.3611 + 0.1159), unclamped"})
    print(f"[vae] latent std {float(lat.std()):.3f}, decoded range [{float(out.min()):.2f}, {float(out.max()):.2f}]")


@torch.no_grad()
def export_edit(ctx: Ctx):
    import numpy as np
    from PIL import Image
    from .models import text_config_from_dir
    from .pipeline import run_edit
    from .text import render_chat, tokenize
    text_config_from_dir(ctx.models, ctx.cfg)
    src = source_image()
    d = os.path.join(ctx.out, "edit")
    os.makedirs(d, exist_ok=True)
    Image.fromarray(src).save(os.path.join(d, "source.png"))
    assert np.array_equal(np.asarray(Image.open(os.path.join(d, "source.png")).convert("RGB")), src)
    tok = _tokenizer(ctx)
    ids, mask = tokenize(tok, EDIT_PROMPT, "x2edit", ctx.cfg.max_sequence_length)

    def text_fn():
        _, emb, pooled, _ = text_embeddings(ctx, ids, mask)
        return emb, pooled

    g = torch.Generator().manual_seed(SEED_NOISE_EDIT)
    noise = torch.randn(1, N_TOK, ctx.cfg.flux.in_channels, generator=g)
    dbg: Dict[str, torch.Tensor] = {}
    out = run_edit(ctx.transformer("diffusers"), _vae(ctx), text_fn, src, EDIT_STEPS, GUIDANCE, TASK_ID, noise,
                   ctx.cfg.scheduler, COND_OFFSET, dbg)
    Image.fromarray(out).save(os.path.join(d, "expected.png"))
    inputs = {"noise": noise, "source": torch.from_numpy(src.copy()), "task_id": torch.tensor([TASK_ID]),
              "input_ids": ids, "attention_mask": mask}
    exp = {"image": torch.from_numpy(out.copy())}
    for k in ("prompt_embeds", "pooled", "cond_latent", "cond", "sigmas", "latent"):
        exp[k] = dbg.pop(k)
    exp.update({f"debug.{k}": v for k, v in dbg.items()})
    meta = {"prompt": EDIT_PROMPT, "prompt_format": "x2edit", "steps": EDIT_STEPS, "guidance": GUIDANCE,
            "size": "source", "cond_offset": COND_OFFSET, "task_id": TASK_ID, "cond_latent": "posterior mean",
            "chat": render_chat(tok, EDIT_PROMPT, "x2edit"), "height": IMG_H, "width": IMG_W,
            "command": "x2edit edit --image edit/source.png --prompt <prompt> --task 3 --steps 4 --guidance 3.5 "
                       "--size source --prompt-format x2edit --noise edit/inputs.safetensors --model-dir models"}
    save_stage(ctx, "edit", inputs, exp, meta)
    print(f"[edit] output mean {out.mean():.1f}, sigmas {[round(float(s), 4) for s in exp['sigmas']]}")


STAGES: Dict[str, Callable[[Ctx], None]] = {
    "dit": export_dit,
    "sample": export_sample,
    "text": export_text,
    "route": export_route,
    "tokenize": export_tokenize,
    "vae": export_vae,
    "edit": export_edit,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join("tests", "fixtures"))
    ap.add_argument("--only", default="", help="comma-separated subset of: models," + ",".join(STAGES))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default $X2E_THREADS or 1)")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    torch.manual_seed(0)
    ctx = Ctx(args.out, tiny_config())
    only = [s for s in args.only.split(",") if s]
    t0 = time.time()
    if not only or "models" in only:
        build_models(ctx)
    for name, fn in STAGES.items():
        if not only or name in only:
            t = time.time()
            fn(ctx)
            print(f"[{name}] {time.time() - t:.1f}s")
    from .fixtures_readme import write_readme
    write_readme(ctx.out)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
