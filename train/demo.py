"""Train the embedded demo model: a tiny X2Edit of the exact architecture that really edits (issue 10).

    python -m train.demo --out runs/demo                     # whole recipe: data, tokenizer, text, vae, dit, export, eval
    models/demo/build.sh runs/demo/model 64                  # GGUFs for the runtime (see models/demo/README.md)
    python -m train.demo_eval --out runs/demo --runtime      # score the runtime's edits, write the table and grid

Stages (each cached under OUT/work, rerun one with --stages):
  data       train/synthetic.py: N training samples (seed 0) and held-out test samples (seed 1000) at 64x64
  tokenizer  Qwen2-style byte-level BPE trained on the instructions, X2Edit's wrapped prompts and routing prompts
  text       a tiny Qwen2.5-VL text model (HF folder) trained on the routing answer (X2Edit's classification prompt,
             greedy decoding answers the label: --task auto works) + a language-model loss on the wrapped prompts
  route      fine-tunes only lm_head on the routing answers from the frozen text model's hidden states (cheap; the
             DiT never reads lm_head, so it can run at any time after text)
  vae        a tiny diffusers AutoencoderKL (16 latent channels, 8x down, 32 GroupNorm groups: the BFL ae names stay
             expressible) trained on the images; scaling/shift factors measured on its latents
  dit        FLUX-architecture DiT (no guidance embedding: schnell-like, 4 steps, unshifted schedule) with X2Edit's
             cond stream, task-aware MoE-LoRA (12 experts, top-2, shared expert), task embedding and AlignNet, all
             trained (the base too, unlike X2Edit) with flow matching + 0.2 x X2Edit's task-contrastive loss; the text
             encoder is frozen; EMA weights are exported
  decoder    fine-tunes the VAE decoder alone (the encoder, hence the DiT's latents, stay fixed; may run beside dit)
  export     OUT/model/{transformer, adapter, text_encoder, vae, scheduler} in the released formats
  eval       PyTorch's edits (the reference pipeline, train/pipeline.py) on the held-out cases, routing accuracy

CPU: X2E_THREADS threads (default 1; on a busy 2-core machine 1 is fastest); CUDA is used for the DiT and VAE when
present.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# OpenMP threads that spin while waiting turn a busy 2-core machine into a crawl (seen: 5x slower steps)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F

from .alignnet import AlignNet
from .configs import (AlignConfig, FluxConfig, MoEConfig, QwenConfig, SCHNELL_SCHEDULER, VaeConfig, X2EditConfig)
from .flux import X2EditTransformer, image_ids, pack_latents, text_ids

STAGES = ["data", "tokenizer", "text", "route", "vae", "dit", "decoder", "export", "eval"]
COND_OFFSET = 64  # the runtime's offset for sizes up to 768 px (and X2Edit's 512 mode)


@dataclass
class DemoConfig:
    size: int = 64
    n_train: int = 4000
    n_test_per_task: int = 12
    # trained tasks (X2Edit ids, train/synthetic.py); replacement (8) and text change (10) change too few pixels to
    # be learned by this model in the CPU budget, so the default leaves them out
    tasks: Tuple[int, ...] = (1, 2, 3, 4, 5, 11, 12)
    seed: int = 0
    test_seed: int = 1000
    vocab: int = 1024
    # text encoder (Qwen2.5-VL text model)
    q_hidden: int = 128
    q_layers: int = 3
    q_heads: int = 4
    q_kv_heads: int = 2
    q_intermediate: int = 256
    q_mrope: Tuple[int, int, int] = (4, 6, 6)  # sums to head_dim / 2
    text_steps: int = 400
    text_minutes: float = 5.0  # wall-clock budget: the schedule ends at whichever of steps / minutes comes first
    text_batch: int = 16
    route_n: int = 1500  # training instructions whose routing answers train the lm_head (stage route)
    route_steps: int = 3000
    text_lr: float = 3e-3
    # VAE
    vae_channels: Tuple[int, ...] = (32, 32, 32, 64)
    vae_steps: int = 20000  # the wall-clock budget ends it first on a CPU
    vae_groups: int = 8  # GroupNorm groups: 4 channels per group (with 32 groups = 1 channel each, every norm
    # removes each channel's mean and scale, and flat colour regions cannot be told apart)
    vae_minutes: float = 12.0
    vae_batch: int = 8
    vae_crop: int = 32
    vae_full_frac: float = 0.4  # last fraction of the steps on whole images
    vae_lr: float = 2e-3
    vae_kl: float = 1e-5
    dec_minutes: float = 26.0  # decoder-only fine-tuning (stage decoder; the latents the DiT trains on stay the same)
    dec_steps: int = 20000
    dec_batch: int = 4
    dec_lr: float = 1e-3
    # DiT + MoE-LoRA + AlignNet
    dit_hidden: int = 128
    dit_head_dim: int = 32
    dit_double: int = 2
    dit_single: int = 2
    joint_dim: int = 128
    pooled_dim: int = 64
    rank: int = 8
    experts: int = 12
    dit_steps: int = 20000
    dit_minutes: float = 28.0
    dit_batch: int = 24
    dit_lr: float = 8e-4
    dit_warmup: int = 50
    task_drop: float = 0.1  # share of samples trained with task 0 (what an unrouted instruction gets)
    ema: float = 0.995
    disp_weight: float = 0.2
    disp_tau: float = 0.5
    dit_init: str = ""  # a dit.pt to continue from (warm restart: warmup and cosine again), e.g. OUT/work/dit.pt
    # extra weight of the flow-matching loss on the image tokens an edit touches (train/demo_eval.py's edit region):
    # a recolour changes ~10% of the tokens, so with a flat loss the text-dependent part of the task is a faint
    # signal and the DiT learns to ignore the text (measured: red vs blue instructions gave edits equal at 56 dB, demo_eval's text_use)
    region_weight: float = 0.0
    # curriculum for the left padding: its ~460 identical rows take most of every text attention (the compressed
    # text's log-multiplicity bias); over the first pad_anneal of the DiT's training that bias rises from 0 to its true
    # value, so the DiT first learns to read the real tokens and then to look past the pads (0 = off)
    pad_anneal: float = 0.0
    # DiT sampling weights by task name, e.g. "color=3,camera=3" (unnamed tasks weigh 1): more steps on the tasks
    # the held-out table shows weakest, without changing the dataset or the other tasks' samples
    task_mix: str = ""

    def x2edit_config(self, vocab_size: int = 0) -> X2EditConfig:
        q = QwenConfig(vocab_size=vocab_size, hidden_size=self.q_hidden, intermediate_size=self.q_intermediate,
                       num_hidden_layers=self.q_layers, num_attention_heads=self.q_heads,
                       num_key_value_heads=self.q_kv_heads, mrope_section=tuple(self.q_mrope),
                       max_position_embeddings=32768, vision_depth=1, vision_hidden_size=32,
                       vision_intermediate_size=64, vision_num_heads=2, vision_fullatt_block_indexes=(0,))
        hd = self.dit_head_dim
        rope = (hd // 4, 3 * hd // 8, 3 * hd // 8)
        flux = FluxConfig(in_channels=64, num_layers=self.dit_double, num_single_layers=self.dit_single,
                          attention_head_dim=hd, num_attention_heads=self.dit_hidden // hd,
                          joint_attention_dim=self.joint_dim, pooled_projection_dim=self.pooled_dim,
                          guidance_embeds=False, axes_dims_rope=rope)
        return X2EditConfig(
            flux=flux, moe=MoEConfig(num_experts=self.experts, top_k=2, rank=self.rank, alpha=float(self.rank),
                                     num_tasks=16),
            qwen=q,
            align=AlignConfig(in_channels=self.q_layers + 1, input_dim=self.q_hidden, output_dim=self.joint_dim,
                              pooled_dim=self.pooled_dim, kernel_size=5, eps=1e-6),
            vae=VaeConfig(block_out_channels=tuple(self.vae_channels), layers_per_block=1, latent_channels=16,
                          norm_num_groups=self.vae_groups),
            scheduler=SCHNELL_SCHEDULER, max_sequence_length=512)


def quick_config() -> DemoConfig:
    """Minutes-long smoke run of every stage (not a useful model)."""
    return DemoConfig(n_train=140, n_test_per_task=2, text_steps=6, vae_steps=6, dit_steps=8, dit_batch=4,
                      vae_batch=2, text_batch=4)


class Progress:
    """Training progress in [0, 1]: the larger of step / steps and elapsed / minutes (minutes <= 0: steps only), so a
    recipe sized for a fast machine still ends on time on a slow one (cosine schedules follow the progress)."""

    def __init__(self, steps: int, minutes: float = 0.0):
        self.steps, self.budget, self.t0 = steps, minutes * 60.0, time.time()

    def __call__(self, step: int) -> float:
        p = step / max(1, self.steps)
        if self.budget > 0:
            p = max(p, (time.time() - self.t0) / self.budget)
        return min(1.0, p)


def set_lr(opt, lr: float):
    for g in opt.param_groups:
        g["lr"] = lr


class Log:
    def __init__(self, path: Optional[str] = None):
        self.t0 = time.time()
        self.path = path

    def __call__(self, msg: str):
        line = f"[{time.time() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------------------------------------------------------------------
# data

def write_split(cfg: DemoConfig, work: str, split: str, seed: int, n: int, log):
    """n samples (tasks in turn) from the generator's seed as WORK/SPLIT.npz (images, task ids) and .json (text)."""
    from .synthetic import make_sample
    src, tgt, ins, task, meta = [], [], [], [], []
    for i in range(n):
        s = make_sample(seed, i, cfg.size, task=cfg.tasks[i % len(cfg.tasks)])
        src.append(s.source)
        tgt.append(s.target)
        ins.append(s.instruction)
        task.append(s.task)
        meta.append(s.meta)
    np.savez_compressed(os.path.join(work, f"{split}.npz"), source=np.stack(src), target=np.stack(tgt),
                        task=np.array(task, np.int64))
    with open(os.path.join(work, f"{split}.json"), "w") as f:
        json.dump({"instruction": ins, "meta": meta}, f)
    log(f"data {split}: {n} samples")


def stage_data(cfg: DemoConfig, work: str, log):
    write_split(cfg, work, "train", cfg.seed, cfg.n_train, log)
    write_split(cfg, work, "test", cfg.test_seed, cfg.n_test_per_task * len(cfg.tasks), log)


def run_config(out: str) -> DemoConfig:
    """The configuration a run's export recorded (OUT/model/demo.json)."""
    with open(os.path.join(out, "model", "demo.json")) as f:
        d = json.load(f)["config"]
    return DemoConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def load_split(work: str, split: str) -> Dict:
    d = dict(np.load(os.path.join(work, f"{split}.npz")))
    with open(os.path.join(work, f"{split}.json")) as f:
        d.update(json.load(f))
    return d


# ------------------------------------------------------------------------------------------------------------------
# tokenizer and text encoder

def stage_tokenizer(cfg: DemoConfig, work: str, model_dir: str, log):
    from .demo_text import corpus_lines
    from .tokenizer_build import train_tokenizer, write_tokenizer_files
    tr = load_split(work, "train")
    tok = train_tokenizer(cfg.vocab, corpus_lines(tr["instruction"], tr["task"].tolist()))
    write_tokenizer_files(tok, os.path.join(model_dir, "text_encoder"))
    log(f"tokenizer: {tok.get_vocab_size(with_added_tokens=True)} tokens")


def _hf_text_model(cfg: DemoConfig, model_dir: str, seed: int):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from tokenizers import Tokenizer
    from .text import qwen_hf_config_dict
    tok = Tokenizer.from_file(os.path.join(model_dir, "text_encoder", "tokenizer.json"))
    n = tok.get_vocab_size(with_added_tokens=True)
    vocab_size = ((n + 63) // 64) * 64
    xc = cfg.x2edit_config(vocab_size)
    cdict = qwen_hf_config_dict(xc.qwen, vocab_size, tok)
    hf_cfg = Qwen2_5_VLConfig(**{k: v for k, v in json.loads(json.dumps(cdict)).items()
                                 if k not in ("architectures", "model_type", "transformers_version", "torch_dtype")})
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(hf_cfg).float(), xc, cdict


def stage_text(cfg: DemoConfig, work: str, model_dir: str, log):
    from .demo_text import train_text_encoder
    from .text import load_tokenizer
    out = os.path.join(model_dir, "text_encoder")
    tokenizer = load_tokenizer(out)
    model, xc, cdict = _hf_text_model(cfg, model_dir, cfg.seed + 11)
    tr = load_split(work, "train")
    train_text_encoder(model, xc.qwen, tokenizer, tr["instruction"], tr["task"].tolist(), cfg.text_steps,
                       cfg.text_batch, cfg.text_lr, cfg.seed + 12, log, Progress(cfg.text_steps, cfg.text_minutes))
    from .models import save_released_qwen
    save_released_qwen(model, out, cdict)
    log("text encoder saved")


def stage_route(cfg: DemoConfig, work: str, model_dir: str, log):
    from safetensors import safe_open
    from safetensors.torch import save_file
    from .demo_text import train_route_head
    sd, xc, tokenizer = text_weights(model_dir, cfg)
    tr = load_split(work, "train")
    n = min(cfg.route_n, len(tr["instruction"]))
    head = train_route_head(sd, xc.qwen, tokenizer, list(tr["instruction"][:n]), tr["task"][:n].tolist(),
                            cfg.route_steps, 1e-2, cfg.seed + 13, log)
    path = os.path.join(model_dir, "text_encoder", "model.safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["lm_head.weight"] = head.to(tensors["lm_head.weight"].dtype).contiguous()
    save_file(tensors, path, metadata=meta)
    from .demo_text import greedy_route
    from .text import task_id_from_output
    te = load_split(work, "test")
    sd["lm_head.weight"] = head
    n = min(35, len(te["instruction"]))
    ok = sum(task_id_from_output(greedy_route(sd, xc.qwen, tokenizer, s)) == int(t)
             for s, t in zip(te["instruction"][:n], te["task"][:n]))
    log(f"route head saved; greedy routing of {n} held-out instructions: {ok}/{n}")


def text_weights(model_dir: str, cfg: DemoConfig):
    from .models import load_text_state_dict
    from .text import load_tokenizer
    sd = load_text_state_dict(model_dir, "hf")
    with open(os.path.join(model_dir, "text_encoder", "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    return sd, cfg.x2edit_config(vocab), load_tokenizer(os.path.join(model_dir, "text_encoder"))


# ------------------------------------------------------------------------------------------------------------------
# VAE

def to_px(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(u8).float().permute(0, 3, 1, 2) / 127.5 - 1.0


def stage_vae(cfg: DemoConfig, work: str, model_dir: str, log):
    from diffusers import AutoencoderKL
    dev = device()
    xc = cfg.x2edit_config()
    torch.manual_seed(cfg.seed + 21)
    vae = AutoencoderKL(**xc.vae.diffusers_kwargs())
    with torch.no_grad():  # residual branches start at zero (identity blocks): a shallow network at first trains faster
        for name, m in vae.named_modules():
            if name.endswith("conv2") or name.endswith("to_out.0"):
                m.weight.zero_()
                m.bias.zero_()
    vae = vae.to(dev).train()
    tr = load_split(work, "train")
    imgs = np.concatenate([tr["source"], tr["target"]])
    rng = np.random.default_rng(cfg.seed + 22)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=1e-4)
    steps = cfg.vae_steps
    prog = Progress(steps, cfg.vae_minutes)
    t0 = time.time()
    S = cfg.size
    step = 0
    while (p := prog(step)) < 1.0:
        set_lr(opt, cfg.vae_lr * min(1.0, (step + 1) / 10) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))))
        full = p >= 1 - cfg.vae_full_frac
        B = max(1, cfg.vae_batch // 4) if full else cfg.vae_batch
        idx = rng.integers(len(imgs), size=B)
        x = imgs[idx]
        if not full:
            c = cfg.vae_crop
            oy, ox = rng.integers(0, S - c + 1, size=2)
            oy, ox = oy // 8 * 8, ox // 8 * 8
            x = x[:, oy:oy + c, ox:ox + c]
        x = to_px(np.ascontiguousarray(x)).to(dev)
        post = vae.encode(x).latent_dist
        # the posterior mean (+ a little noise): the edit path encodes with the mean, and the full-variance sample of an
        # untrained encoder (std ~1) drowns its signal for hundreds of steps
        z = post.mean + 0.05 * torch.randn_like(post.mean)
        y = vae.decode(z).sample
        rec = F.mse_loss(y, x) + 0.5 * (y - x).abs().mean()
        kl = post.kl().mean() / z[0].numel()
        loss = rec + cfg.vae_kl * kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0 or step == 1:
            psnr = 10 * math.log10(4.0 / max(F.mse_loss(y, x).item(), 1e-10))
            log(f"vae step {step} ({100 * p:.0f}%){' full' if full else ''} rec {rec.item():.4f} kl {kl.item():.2f} psnr {psnr:.1f} dB "
                f"({time.time() - t0:.0f}s)")
    vae.eval()
    # scaling / shift factors from the latent statistics (posterior means) of training images
    with torch.no_grad():
        zs = torch.cat([vae.encode(to_px(imgs[i:i + 64]).to(dev)).latent_dist.mean.cpu()
                        for i in range(0, min(len(imgs), 1024), 64)])
    shift = float(zs.mean())
    scale = float(1.0 / zs.std())
    vae.register_to_config(scaling_factor=round(scale, 6), shift_factor=round(shift, 6))
    vae.cpu().to(torch.float16).save_pretrained(os.path.join(model_dir, "vae"), safe_serialization=True)
    log(f"vae saved: scaling_factor {scale:.4f} shift_factor {shift:.4f}")


def stage_decoder(cfg: DemoConfig, work: str, model_dir: str, log):
    """Fine-tunes the VAE decoder alone on whole images, from the frozen encoder's posterior means (+ a little noise, as
    the DiT's latents are not exact). The encoder, its scaling and shift and so the DiT's training latents do not
    change, so this stage may run beside the dit stage (start it once dit has encoded its latents)."""
    dev = device()
    vae = load_vae_f32(model_dir).to(dev)
    for p in vae.parameters():
        p.requires_grad_(False)
    dec = list(vae.decoder.parameters()) + (list(vae.post_quant_conv.parameters()) if vae.post_quant_conv else [])
    for p in dec:
        p.requires_grad_(True)
    vae.decoder.train()
    tr = load_split(work, "train")
    imgs = np.concatenate([tr["source"], tr["target"]])
    rng = np.random.default_rng(cfg.seed + 24)
    opt = torch.optim.AdamW(dec, lr=cfg.dec_lr, weight_decay=1e-4)
    prog = Progress(cfg.dec_steps, cfg.dec_minutes)
    t0, step, acc = time.time(), 0, []
    while (p := prog(step)) < 1.0:
        set_lr(opt, cfg.dec_lr * min(1.0, (step + 1) / 10) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p))))
        x = to_px(imgs[rng.integers(len(imgs), size=cfg.dec_batch)]).to(dev)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
            z = z + 0.05 * z.std() * torch.randn_like(z)
        y = vae.decode(z).sample
        mse = F.mse_loss(y, x)
        loss = mse + 0.5 * (y - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dec, 1.0)
        opt.step()
        step += 1
        acc.append(mse.item())
        if step % 50 == 0 or step == 1:
            log(f"decoder step {step} ({100 * p:.0f}%) psnr {10 * math.log10(4.0 / max(np.mean(acc), 1e-10)):.1f} dB "
                f"({time.time() - t0:.0f}s)")
            acc = []
    vae.eval()
    vae.cpu().to(torch.float16).save_pretrained(os.path.join(model_dir, "vae"), safe_serialization=True)
    log("vae saved (decoder fine-tuned)")


def load_vae_f32(model_dir: str):
    from diffusers import AutoencoderKL
    return AutoencoderKL.from_pretrained(os.path.join(model_dir, "vae"), torch_dtype=torch.float32).eval()


@torch.no_grad()
def encode_all(vae, u8: np.ndarray, dev, batch: int = 64) -> torch.Tensor:
    out = []
    for i in range(0, len(u8), batch):
        z = vae.encode(to_px(u8[i:i + batch]).to(dev)).latent_dist.mean
        out.append(((z - vae.config.shift_factor) * vae.config.scaling_factor).float().cpu())
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------------------------
# DiT

def build_dit(xc: X2EditConfig, seed: int) -> Tuple[X2EditTransformer, AlignNet]:
    torch.manual_seed(seed)
    model = X2EditTransformer(xc.flux)
    model.install_moe(xc.moe)
    with torch.no_grad():
        model.transformer.proj_out.weight.zero_()
        model.transformer.proj_out.bias.zero_()
        model.task_embedding.weight.normal_(0.0, 1.0)
    alignnet = AlignNet(xc.align)
    return model, alignnet


def token_weights(source: np.ndarray, target: np.ndarray, extra: float) -> torch.Tensor:
    """Per sample and packed image token (16x16 px): 1, or 1 + extra where the token's patch meets the edit region;
    normalised so that every sample keeps the same total weight (a small edit is not worth less than a global one)."""
    from .demo_eval import edit_mask
    N, H, W = source.shape[:3]
    m = np.stack([edit_mask(s, t) for s, t in zip(source, target)])
    touched = m.reshape(N, H // 16, 16, W // 16, 16).any(axis=(2, 4)).reshape(N, -1)
    w = torch.from_numpy(1.0 + extra * touched.astype(np.float32))
    return w * (w.shape[1] / w.sum(1, keepdim=True))


def sample_weights(tasks: np.ndarray, mix: str) -> Optional[np.ndarray]:
    """Per-sample probabilities from DemoConfig.task_mix ("name=weight,..."), or None for uniform sampling."""
    if not mix:
        return None
    from .synthetic import TASK_IDS as ids
    per_task = {}
    for item in mix.split(","):
        name, _, val = item.partition("=")
        try:
            per_task[ids[name.strip()]] = float(val)
        except (KeyError, ValueError):
            raise SystemExit(f"task_mix: '{item}' is not NAME=WEIGHT with NAME one of {sorted(ids)}") from None
    w = np.array([per_task.get(int(t), 1.0) for t in tasks])
    if (w < 0).any() or w.sum() <= 0:
        raise SystemExit(f"task_mix: weights must be >= 0 and not all 0 ({mix})")
    return w / w.sum()


def sample_sigmas(B: int, g: torch.Generator) -> torch.Tensor:
    """Uniform sigmas (X2Edit's weighting 'none'), a quarter of them on the 4-step schedule's points."""
    s = torch.rand(B, generator=g)
    on_grid = torch.rand(B, generator=g) < 0.25
    grid = torch.tensor([1.0, 0.75, 0.5, 0.25])[torch.randint(0, 4, (B,), generator=g)]
    return torch.where(on_grid, grid, s).clamp(1e-3, 1.0)


def stage_dit(cfg: DemoConfig, work: str, model_dir: str, log, on_latents=None):
    from .demo_text import align_compressed, align_inputs, compressed_hidden
    from .losses import dispersive_loss
    dev = device()
    tr = load_split(work, "train")
    # frozen parts: latents (posterior means) and compressed text hidden states, computed once
    vae = load_vae_f32(model_dir).to(dev)
    lat_src = encode_all(vae, tr["source"], dev)
    lat_tgt = encode_all(vae, tr["target"], dev)
    del vae
    log(f"dit: latents {tuple(lat_src.shape)} std {lat_tgt.std():.3f} mean {lat_tgt.mean():.3f}")
    sd, xc, tokenizer = text_weights(model_dir, cfg)
    uniq = sorted(set(tr["instruction"]))
    where = {s: i for i, s in enumerate(uniq)}
    hid = compressed_hidden(sd, xc.qwen, tokenizer, uniq)
    ins_id = np.array([where[s] for s in tr["instruction"]])
    log(f"dit: text hidden states of {len(uniq)} instructions")
    if on_latents is not None:
        on_latents()  # e.g. start the decoder stage beside this one (it may change the decoder from now on)
    tasks = torch.from_numpy(tr["task"])
    tok_w = token_weights(tr["source"], tr["target"], cfg.region_weight)
    pick = sample_weights(tr["task"], cfg.task_mix)

    model, alignnet = build_dit(xc, cfg.seed + 31)
    if cfg.dit_init:
        ck = torch.load(cfg.dit_init, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        alignnet.load_state_dict(ck["alignnet"])
        log(f"dit: continuing from {cfg.dit_init}")
    model.to(dev).train()
    alignnet.to(dev).train()
    params = [p for p in model.parameters()] + list(alignnet.parameters())
    n_par = sum(p.numel() for p in model.transformer.parameters()) + model.task_embedding.weight.numel()
    log(f"dit: {n_par:,} transformer+adapter parameters, {sum(p.numel() for p in alignnet.parameters()):,} AlignNet")
    opt = torch.optim.AdamW(params, lr=cfg.dit_lr, betas=(0.9, 0.99), weight_decay=1e-4, eps=1e-8)
    steps = cfg.dit_steps
    prog = Progress(steps, cfg.dit_minutes)
    ema = [p.detach().clone() for p in params]
    g = torch.Generator().manual_seed(cfg.seed + 32)
    rng = np.random.default_rng(cfg.seed + 33)
    h = w = lat_src.shape[-1]
    iids, cids = image_ids(h, w).to(dev), image_ids(h, w, COND_OFFSET).to(dev)
    t0 = time.time()
    N = len(lat_src)
    step = 0
    while (p := prog(step)) < 1.0:
        set_lr(opt, cfg.dit_lr * min(1.0, (step + 1) / cfg.dit_warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))))
        idx = rng.choice(N, size=cfg.dit_batch, p=pick) if pick is not None else rng.integers(N, size=cfg.dit_batch)
        x0 = lat_tgt[idx].to(dev)
        cond = lat_src[idx].to(dev)
        task = tasks[idx].clone()
        task[torch.rand(len(idx), generator=g) < cfg.task_drop] = 0  # unrouted instructions get task 0
        task = task.to(dev)
        xa, mult = align_inputs([hid[ins_id[i]] for i in idx])
        mult = mult.to(dev)
        emb, pooled, tb = align_compressed(alignnet, xa.to(dev), mult)
        if cfg.pad_anneal > 0:
            tb = torch.where(mult > 1, tb * min(1.0, p / cfg.pad_anneal), tb)
        sig = sample_sigmas(len(idx), g).to(dev)
        noise = torch.randn(x0.shape, generator=g).to(dev)
        s4 = sig.view(-1, 1, 1, 1)
        xt = (1 - s4) * x0 + s4 * noise
        pred, hidden_all = model(pack_latents(xt), pack_latents(cond), emb, pooled, sig, None, iids, cids,
                                 text_ids(emb.shape[1]).to(dev), task_id=task, return_hidden=True, moe_mode="dense",
                                 txt_bias=tb)
        w = tok_w[idx].to(dev)  # [B, tokens], each sample's weights sum to its token count
        mse = ((pred - pack_latents(noise - x0)) ** 2).mean(-1).mul(w).mean()
        disp = dispersive_loss(hidden_all, task, cfg.disp_tau, cfg.disp_weight)
        loss = mse + disp
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, q in zip(ema, params):
                e.mul_(d).add_(q.detach(), alpha=1 - d)
        step += 1
        if step % 25 == 0 or step == 1:
            log(f"dit step {step} ({100 * p:.0f}%) mse {mse.item():.4f} disp {disp.item():.4f} "
                f"({time.time() - t0:.0f}s)")
    with torch.no_grad():
        for e, q in zip(ema, params):
            q.copy_(e)
    torch.save({"model": model.state_dict(), "alignnet": alignnet.state_dict()}, os.path.join(work, "dit.pt"))
    log("dit saved")


# ------------------------------------------------------------------------------------------------------------------
# export

def stage_export(cfg: DemoConfig, work: str, model_dir: str, log):
    from diffusers import FluxTransformer2DModel
    from .checkpoint import save_adapter
    from .models import write_scheduler_config
    _, xc, _ = text_weights(model_dir, cfg)
    model, alignnet = build_dit(xc, 0)
    ck = torch.load(os.path.join(work, "dit.pt"), map_location="cpu", weights_only=True)
    model.load_state_dict(ck["model"])
    alignnet.load_state_dict(ck["alignnet"])
    ref = FluxTransformer2DModel(**xc.flux.diffusers_kwargs())
    ref.load_state_dict(model.base_state_dict())
    ref.save_pretrained(os.path.join(model_dir, "transformer"), safe_serialization=True)
    write_scheduler_config(model_dir, xc.scheduler)
    save_adapter(os.path.join(model_dir, "adapter"), model, alignnet, lora_dtype=torch.float32,
                 task_dtype=torch.float32, align_dtype=torch.float32)
    with open(os.path.join(model_dir, "demo.json"), "w") as f:
        json.dump({"native_size": cfg.size, "cond_offset": COND_OFFSET, "steps": 4, "config": asdict(cfg)}, f,
                  indent=2)
    log(f"exported {model_dir}")


# ------------------------------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/demo", help="work dir; the model folder is OUT/model")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ",".join(STAGES))
    ap.add_argument("--quick", action="store_true", help="tiny smoke run of every stage")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a DemoConfig field")
    a = ap.parse_args(argv)
    from .common import set_threads
    if not torch.cuda.is_available():
        set_threads()  # X2E_THREADS, default 1: 2 threads on a busy 2-core machine are much slower than 1
    cfg = quick_config() if a.quick else DemoConfig()
    for kv in a.set:
        k, v = kv.split("=", 1)
        cur = getattr(cfg, k)
        setattr(cfg, k, type(cur)(json.loads(v)) if not isinstance(cur, str) else v)
    work = os.path.join(a.out, "work")
    model_dir = os.path.join(a.out, "model")
    os.makedirs(work, exist_ok=True)
    os.makedirs(model_dir, exist_ok=True)
    log = Log(os.path.join(a.out, "log.txt"))
    log(f"config {json.dumps(asdict(cfg))}")
    stages = [s for s in a.stages.split(",") if s]
    for s in stages:
        if s not in STAGES:
            raise SystemExit(f"unknown stage {s}")
    t_all = time.time()
    side = []

    def start_decoder():
        # the decoder stage beside the DiT (1 thread each when on the CPU): same output folder and overrides
        args = [sys.executable, "-m", "train.demo", "--out", os.path.abspath(a.out), "--stages", "decoder"]
        for kv in a.set:
            args += ["--set", kv]
        if a.quick:
            args.append("--quick")
        env = dict(os.environ)
        if not torch.cuda.is_available():
            env["X2E_THREADS"] = "1"
        log("decoder stage started beside the dit stage")
        side.append(subprocess.Popen(args, env=env, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

    parallel = "dit" in stages and "decoder" in stages
    for s in STAGES:
        if s not in stages:
            continue
        t = time.time()
        if s == "data":
            stage_data(cfg, work, log)
        elif s == "tokenizer":
            stage_tokenizer(cfg, work, model_dir, log)
        elif s == "text":
            stage_text(cfg, work, model_dir, log)
        elif s == "route":
            stage_route(cfg, work, model_dir, log)
        elif s == "vae":
            stage_vae(cfg, work, model_dir, log)
        elif s == "dit":
            stage_dit(cfg, work, model_dir, log, start_decoder if parallel else None)
        elif s == "decoder":
            if parallel:
                for pr in side:
                    if pr.wait() != 0:
                        raise SystemExit("the decoder stage failed")
            else:
                stage_decoder(cfg, work, model_dir, log)
        elif s == "export":
            stage_export(cfg, work, model_dir, log)
        elif s == "eval":
            from .demo_eval import stage_eval
            stage_eval(cfg, work, model_dir, a.out, log)
        log(f"stage {s} done in {time.time() - t:.0f}s")
    log(f"all stages done in {time.time() - t_all:.0f}s")


if __name__ == "__main__":
    main()
