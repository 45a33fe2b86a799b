"""Train X2Edit's task-aware MoE-LoRA (X2E training_script/train_1024.py, reference/x2edit.md section 4).

    python -m train.train --model-dir MODELS --data records.jsonl --output-dir out [options]
    accelerate launch --multi_gpu --num_processes 8 --mixed_precision bf16 -m train.train --model-dir ... (see README)

What is trained: only the MoE-LoRA (routed experts, shared expert, gates: every parameter with '_lora' in its name)
and the task embedding; FLUX, the VAE, Qwen2.5-VL and AlignNet are frozen. Loss = flow-matching MSE (x_t =
(1-s) x0 + s noise, target noise - x0, uniform timestep sampling from the FLUX.1-dev training scheduler) + 0.2 *
the task-aware contrastive ("dispersive") loss over the noise-token hidden states after every double block
(tau 0.5). AdamW (lr 1e-4, betas (0.9, 0.999), wd 1e-4, eps 1e-8), grad-norm clip 1.0, constant lr.
The text uses the raw instruction (X2Edit training; `--prompt-format x2edit` for the inference wrapper), the VAE
samples the posterior for target and cond (as X2Edit), guidance 1.0 (X2Edit's training default).
Device: CUDA when present (frozen weights in bf16, trainable weights in fp32, bf16 autocast through accelerate),
otherwise the CPU in fp32. Checkpoints are written in the release layout (checkpoint-N/lora.safetensors,
task_embeddings.bin, diffusion_pytorch_model.bin).
"""
from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .alignnet import AlignNet
from .checkpoint import load_adapter, save_adapter
from .configs import AlignConfig, DEV_SCHEDULER, FluxConfig, MoEConfig
from .data import EditDataset, collate
from .flux import X2EditTransformer, image_ids, pack_latents, text_ids
from .losses import dispersive_loss


def align_config_from_state_dict(sd: Dict[str, torch.Tensor], eps: float = 1e-6) -> AlignConfig:
    sd = {k.replace("module.", ""): v for k, v in sd.items()}
    return AlignConfig(in_channels=sd["conv.weight"].shape[1], input_dim=sd["mlp.projector.0.weight"].shape[1],
                       output_dim=sd["mlp.projector.0.weight"].shape[0], pooled_dim=sd["mlp.fc.1.weight"].shape[0],
                       kernel_size=sd["conv.weight"].shape[-1], eps=eps)


def flux_config_from_model(t) -> FluxConfig:
    c = t.config
    return FluxConfig(in_channels=c.in_channels, num_layers=c.num_layers, num_single_layers=c.num_single_layers,
                      attention_head_dim=c.attention_head_dim, num_attention_heads=c.num_attention_heads,
                      joint_attention_dim=c.joint_attention_dim, pooled_projection_dim=c.pooled_projection_dim,
                      guidance_embeds=c.guidance_embeds, axes_dims_rope=tuple(c.axes_dims_rope))


@dataclass
class TrainArgs:
    model_dir: str
    data: str
    output_dir: str = "out"
    size: str = "512"
    max_steps: int = 1000
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    checkpointing_steps: int = 400
    rank: int = 64
    alpha: float = 64.0
    experts: int = 12
    tasks: int = 16
    offset: Optional[int] = None
    guidance_scale: float = 1.0
    disp_weight: float = 0.2
    disp_tau: float = 0.5
    prompt_format: str = "raw"
    seed: int = 0
    mixed_precision: str = "auto"
    gradient_checkpointing: bool = False
    init_adapter: Optional[str] = None
    alignnet: Optional[str] = None
    transformer_source: str = "diffusers"
    cache_text: bool = True
    log_every: int = 25
    num_workers: int = 0
    max_sequence_length: int = 512
    moe_mode: str = "sparse"


class Trainer:
    def __init__(self, args: TrainArgs):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed
        from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

        from .models import load_transformer
        from .text import load_hf_text_model, load_tokenizer

        self.args = args
        mp = args.mixed_precision
        if mp == "auto":
            mp = "bf16" if torch.cuda.is_available() else "no"
        self.acc = Accelerator(mixed_precision=mp,
                               kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        set_seed(args.seed)
        dev = self.acc.device
        self.weight_dtype = torch.bfloat16 if mp == "bf16" else torch.float32
        md = args.model_dir

        # frozen parts
        if args.transformer_source == "diffusers":
            base = FluxTransformer2DModel.from_pretrained(os.path.join(md, "transformer"), torch_dtype=torch.float32)
            model = X2EditTransformer(flux_config_from_model(base), None, transformer=base)
        else:
            from .configs import tiny_config
            model = load_transformer(md, tiny_config(), args.transformer_source, with_adapter=False)
        model.transformer.requires_grad_(False)
        model.transformer.to(dev, dtype=self.weight_dtype)
        self.moe_cfg = MoEConfig(num_experts=args.experts, top_k=2, rank=args.rank, alpha=args.alpha,
                                 num_tasks=args.tasks)
        model.install_moe(self.moe_cfg)  # X2Edit init: down N(0, 1/rank), up 0, gate kaiming, embedding N(0,1)
        if args.init_adapter:
            load_adapter(args.init_adapter, model)
        for n, p in model.named_parameters():
            p.requires_grad_(("_lora" in n) or n.startswith("task_embedding."))
        for p in model.trainable_parameters():
            p.data = p.data.float()
        model.to(dev)
        for n, p in model.named_parameters():  # frozen weights in the weight dtype, trainable in fp32
            if not p.requires_grad:
                p.data = p.data.to(self.weight_dtype)
        model.gradient_checkpointing = args.gradient_checkpointing
        self.flux_cfg = model.flux_cfg

        self.vae = AutoencoderKL.from_pretrained(os.path.join(md, "vae"), torch_dtype=torch.float32)
        self.vae.requires_grad_(False).to(dev, dtype=self.weight_dtype).eval()
        self.vae_scale = 2 ** len(self.vae.config.block_out_channels)
        self.text_model = load_hf_text_model(os.path.join(md, "text_encoder"))
        self.text_model.requires_grad_(False).to(dev, dtype=self.weight_dtype)
        self.tokenizer = load_tokenizer(os.path.join(md, "text_encoder"))
        align_path = args.alignnet or os.path.join(md, "adapter", "diffusion_pytorch_model.bin")
        asd = torch.load(align_path, map_location="cpu", weights_only=True)
        self.alignnet = AlignNet(align_config_from_state_dict(asd))
        self.alignnet.load_release_state_dict({k: v.float() for k, v in asd.items()})
        self.alignnet.requires_grad_(False).to(dev, dtype=self.weight_dtype).eval()
        self.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=DEV_SCHEDULER.shift,
                                                         use_dynamic_shifting=True)
        self._text_cache: Dict[str, tuple] = {}

        self.optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=args.lr,
                                           betas=(args.adam_beta1, args.adam_beta2), weight_decay=args.weight_decay,
                                           eps=args.adam_eps)
        self.model, self.optimizer = self.acc.prepare(model, self.optimizer)
        self.step_count = 0

    # ---------------------------------------------------------------------------------------------------------
    @property
    def unwrapped(self) -> X2EditTransformer:
        return self.acc.unwrap_model(self.model)

    @torch.no_grad()
    def text_embeddings(self, instructions: List[str]):
        from .text import hf_hidden_states, tokenize
        embs, pooled = [], []
        for ins in instructions:
            if ins not in self._text_cache:
                ids, mask = tokenize(self.tokenizer, ins, self.args.prompt_format, self.args.max_sequence_length)
                hs = hf_hidden_states(self.text_model, ids.to(self.acc.device), mask.to(self.acc.device))
                p, e = self.alignnet(hs.to(self.weight_dtype))
                if not self.args.cache_text:
                    embs.append(e)
                    pooled.append(p)
                    continue
                self._text_cache[ins] = (e, p)
            e, p = self._text_cache[ins]
            embs.append(e)
            pooled.append(p)
        return torch.cat(embs), torch.cat(pooled)

    @torch.no_grad()
    def encode(self, px: torch.Tensor, sample: bool = True, generator=None) -> torch.Tensor:
        dist = self.vae.encode(px.to(self.acc.device, self.weight_dtype)).latent_dist
        z = dist.sample(generator) if sample else dist.mean
        return ((z - self.vae.config.shift_factor) * self.vae.config.scaling_factor).float()

    def losses(self, batch, sigmas: torch.Tensor, noise: torch.Tensor, sample_vae: bool = True):
        dev = self.acc.device
        H, W = batch["target"].shape[-2:]
        h, w = 2 * (H // self.vae_scale), 2 * (W // self.vae_scale)
        x0 = self.encode(batch["target"], sample_vae)
        cond = self.encode(batch["source"], sample_vae)
        s = sigmas.to(dev).view(-1, 1, 1, 1)
        xt = (1.0 - s) * x0 + s * noise
        emb, pooled = self.text_embeddings(batch["instruction"])
        B = x0.shape[0]
        offset = self.args.offset if self.args.offset is not None else (128 if max(H, W) > 600 else 64)
        guidance = torch.full((B,), self.args.guidance_scale, device=dev) if self.flux_cfg.guidance_embeds else None
        task = batch["task"].to(dev)
        with self.acc.autocast():
            pred, hidden_all = self.model(
                pack_latents(xt), pack_latents(cond), emb, pooled, sigmas.to(dev), guidance,
                image_ids(h, w).to(dev), image_ids(h, w, offset).to(dev), text_ids(emb.shape[1]).to(dev),
                task_id=task, return_hidden=True, moe_mode=self.args.moe_mode)
        target = pack_latents(noise - x0)
        mse = ((pred.float() - target.float()) ** 2).reshape(B, -1).mean(dim=1).mean()
        gather = self.acc.gather if self.acc.num_processes > 1 else None
        disp = dispersive_loss(hidden_all, task, self.args.disp_tau, self.args.disp_weight, gather,
                               self.acc.process_index)
        return mse, disp

    def sample_sigmas(self, B: int) -> torch.Tensor:
        u = torch.rand(B)  # weighting_scheme "none": uniform
        idx = (u * self.scheduler.config.num_train_timesteps).long()
        return self.scheduler.sigmas[idx].float()

    def step(self, batch) -> Dict[str, float]:
        self.model.train()
        B = batch["target"].shape[0]
        H, W = batch["target"].shape[-2:]
        lat = (B, self.vae.config.latent_channels, 2 * (H // self.vae_scale), 2 * (W // self.vae_scale))
        noise = torch.randn(lat).to(self.acc.device)
        with self.acc.accumulate(self.model):
            mse, disp = self.losses(batch, self.sample_sigmas(B), noise)
            loss = mse + disp
            self.acc.backward(loss)
            if self.acc.sync_gradients:
                self.acc.clip_grad_norm_(self.unwrapped.trainable_parameters(), self.args.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad()
        self.step_count += 1
        return {"loss": float(loss.detach()), "mse": float(mse.detach()), "disp": float(disp.detach())}

    @torch.no_grad()
    def eval_loss(self, batch, seed: int = 0) -> Dict[str, float]:
        """Deterministic loss: fixed sigmas and noise, posterior means."""
        self.model.eval()
        g = torch.Generator().manual_seed(seed)
        B = batch["target"].shape[0]
        H, W = batch["target"].shape[-2:]
        lat = (B, self.vae.config.latent_channels, 2 * (H // self.vae_scale), 2 * (W // self.vae_scale))
        noise = torch.randn(lat, generator=g).to(self.acc.device)
        sig = torch.linspace(0.2, 0.9, B)
        mse, disp = self.losses(batch, sig, noise, sample_vae=False)
        return {"loss": float(mse + disp), "mse": float(mse), "disp": float(disp)}

    def save_checkpoint(self, path: str):
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            save_adapter(path, self.unwrapped, self.alignnet, lora_dtype=torch.float32, task_dtype=torch.float32,
                         align_dtype=torch.float32)

    def fit(self, dataset) -> List[Dict[str, float]]:
        g = torch.Generator().manual_seed(self.args.seed)
        dl = DataLoader(dataset, batch_size=self.args.batch_size, shuffle=True, collate_fn=collate, drop_last=True,
                        generator=g, num_workers=self.args.num_workers)
        dl = self.acc.prepare(dl)
        history = []
        t0 = time.time()
        while self.step_count < self.args.max_steps:
            for batch in dl:
                logs = self.step(batch)
                history.append(logs)
                if self.acc.is_main_process and self.step_count % self.args.log_every == 0:
                    print(f"step {self.step_count} loss {logs['loss']:.4f} mse {logs['mse']:.4f} "
                          f"disp {logs['disp']:.4f} ({time.time() - t0:.1f}s)", flush=True)
                if self.step_count % self.args.checkpointing_steps == 0:
                    self.save_checkpoint(os.path.join(self.args.output_dir, f"checkpoint-{self.step_count}"))
                if self.step_count >= self.args.max_steps:
                    break
        self.save_checkpoint(os.path.join(self.args.output_dir, f"checkpoint-{self.step_count}"))
        return history


def parse_args(argv=None) -> TrainArgs:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainArgs(model_dir="", data="")
    ap.add_argument("--model-dir", required=True, help="transformer/, vae/, text_encoder/, adapter/ (AlignNet)")
    ap.add_argument("--data", required=True, help="records.jsonl (source, target, instruction, task)")
    ap.add_argument("--output-dir", default=d.output_dir)
    ap.add_argument("--size", default=d.size, help="512, 1024 (aspect buckets) or HxW")
    for name in ("max_steps", "batch_size", "checkpointing_steps", "rank", "experts", "tasks", "seed", "log_every",
                 "num_workers", "max_sequence_length"):
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "weight_decay", "adam_beta1", "adam_beta2", "adam_eps", "max_grad_norm", "alpha",
                 "guidance_scale", "disp_weight", "disp_tau"):
        ap.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    ap.add_argument("--offset", type=int, default=None, help="cond RoPE row offset (default 128 at 1024, 64 at 512)")
    ap.add_argument("--prompt-format", default=d.prompt_format, choices=["raw", "x2edit"])
    ap.add_argument("--moe-mode", default=d.moe_mode, choices=["sparse", "dense"],
                    help="sparse = X2Edit's per-expert dispatch; dense = all experts, top-2 masked (same values)")
    ap.add_argument("--mixed-precision", default=d.mixed_precision, choices=["auto", "no", "bf16"])
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--init-adapter", default=None, help="resume MoE-LoRA + task embedding from an adapter folder")
    ap.add_argument("--alignnet", default=None, help="AlignNet .bin (default <model-dir>/adapter/...)")
    ap.add_argument("--transformer-source", default=d.transformer_source,
                    choices=["diffusers", "bfl", "community_gguf"])
    a = ap.parse_args(argv)
    kw = {k: v for k, v in vars(a).items()}
    return TrainArgs(**kw)


def main(argv=None):
    from .common import set_threads
    args = parse_args(argv)
    if not torch.cuda.is_available():
        set_threads()
    size = args.size if args.size in ("512", "1024") else tuple(int(x) for x in args.size.lower().split("x"))
    trainer = Trainer(args)
    print(f"device {trainer.acc.device}, processes {trainer.acc.num_processes}, mixed precision "
          f"{trainer.acc.mixed_precision}, trainable {sum(p.numel() for p in trainer.unwrapped.trainable_parameters()):,}")
    trainer.fit(EditDataset(args.data, size))


if __name__ == "__main__":
    main()
