"""Build the tiny models with seeded random weights, write them in the released file formats, and load them back
(from any of the formats) for the reference computations.

Layout written by `build_*` (tests/fixtures/models/, also usable as a `--model-dir`):
    transformer/                      diffusers FluxTransformer2DModel folder (config.json + safetensors, bf16)
    transformer-bfl.safetensors       BFL single file (bf16)
    transformer-schnell-bfl.safetensors  same weights without guidance_in (a schnell-like base)
    flux-community.gguf               BFL names + model.diffusion_model. prefix, no KV, mixed types
    scheduler/scheduler_config.json   FLUX.1-dev FlowMatchEulerDiscreteScheduler config
    adapter/                          X2Edit release layout (lora.safetensors, task_embeddings.bin,
                                      diffusion_pytorch_model.bin = AlignNet)
    text_encoder/, qwen2vl.gguf       see text.py
    vae/, ae.safetensors              see vae.py
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

import torch
from diffusers import FluxTransformer2DModel
from safetensors.torch import load_file, save_file

from .alignnet import AlignNet
from .checkpoint import load_adapter, save_adapter
from .common import randomize_, round_to_
from .configs import FluxConfig, MoEConfig, SchedulerConfig, X2EditConfig
from .flux import X2EditTransformer
from .flux_bfl import bfl_to_diffusers, diffusers_to_bfl
from .gguf_io import read_dequantized, write_flux_community_gguf

SEED_FLUX = 1001
SEED_LORA = 1002
SEED_TASK = 1003
SEED_ALIGN = 1004

LORA_UP_GAIN = 0.5  # LoRA up weights (zero in X2Edit's init) randomised to N(0,1)*0.5/sqrt(rank)


def build_transformer(cfg: X2EditConfig) -> X2EditTransformer:
    """Base FLUX weights (bf16-representable values) + MoE-LoRA + task embedding, all randomised."""
    model = X2EditTransformer(cfg.flux)
    randomize_(model.transformer, SEED_FLUX)
    round_to_(model.transformer, torch.bfloat16)
    model.install_moe(cfg.moe)
    g = torch.Generator().manual_seed(SEED_LORA)
    with torch.no_grad():
        for name, p in sorted(model.transformer.named_parameters()):
            if "_lora" not in name:
                continue
            r = torch.randn(p.shape, generator=g)
            if name.endswith(".up.weight"):
                p.copy_(r * LORA_UP_GAIN / (p.shape[1] ** 0.5))
            elif name.endswith(".down.weight"):
                p.copy_(r / cfg.moe.rank)  # X2Edit's init: N(0, 1/rank)
            else:  # gate [E, 2D]
                p.copy_(r / (p.shape[1] ** 0.5))
        model.task_embedding.weight.copy_(torch.randn(model.task_embedding.weight.shape,
                                                      generator=torch.Generator().manual_seed(SEED_TASK)))
    # stored values: LoRA in bf16 (lora.safetensors), task embedding in f32
    for name, p in model.transformer.named_parameters():
        if "_lora" in name:
            with torch.no_grad():
                p.copy_(p.to(torch.bfloat16).float())
    return model


def build_alignnet(cfg: X2EditConfig) -> AlignNet:
    net = AlignNet(cfg.align)
    randomize_(net, SEED_ALIGN)
    return net


def scheduler_config_json(s: SchedulerConfig) -> Dict:
    return {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.32.2",
            "base_image_seq_len": s.base_image_seq_len, "base_shift": s.base_shift,
            "max_image_seq_len": s.max_image_seq_len, "max_shift": s.max_shift,
            "num_train_timesteps": s.num_train_timesteps, "shift": s.shift,
            "use_dynamic_shifting": s.use_dynamic_shifting}


def write_scheduler_config(model_dir: str, s: SchedulerConfig) -> None:
    """MODEL_DIR/scheduler/scheduler_config.json, as diffusers writes it."""
    os.makedirs(os.path.join(model_dir, "scheduler"), exist_ok=True)
    with open(os.path.join(model_dir, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(scheduler_config_json(s), f, indent=2, sort_keys=True)
        f.write("\n")


def write_transformer_files(model_dir: str, model: X2EditTransformer, alignnet: AlignNet, cfg: X2EditConfig):
    os.makedirs(model_dir, exist_ok=True)
    base = {k: v.to(torch.bfloat16) for k, v in model.base_state_dict().items()}
    # diffusers folder
    ref = FluxTransformer2DModel(**cfg.flux.diffusers_kwargs())
    ref.load_state_dict({k: v.float() for k, v in base.items()})
    ref.to(torch.bfloat16).save_pretrained(os.path.join(model_dir, "transformer"), safe_serialization=True)
    # BFL single files
    bfl = diffusers_to_bfl(base, cfg.flux.num_layers, cfg.flux.num_single_layers, cfg.flux.guidance_embeds)
    save_file(bfl, os.path.join(model_dir, "transformer-bfl.safetensors"))
    schnell = {k: v for k, v in bfl.items() if not k.startswith("guidance_in.")}
    save_file(schnell, os.path.join(model_dir, "transformer-schnell-bfl.safetensors"))
    # community GGUF (types mixed, see gguf_io.FLUX_TYPE_RULES)
    types = write_flux_community_gguf(os.path.join(model_dir, "flux-community.gguf"),
                                      {k: v.float() for k, v in bfl.items()})
    write_scheduler_config(model_dir, cfg.scheduler)
    # adapter (release layout)
    save_adapter(os.path.join(model_dir, "adapter"), model, alignnet, lora_dtype=torch.bfloat16,
                 task_dtype=torch.float32, align_dtype=torch.float32)
    return types


# ------------------------------------------------------------------------------------------------------------------
# loaders

def load_transformer(model_dir: str, cfg: X2EditConfig, source: str = "diffusers",
                     with_adapter: bool = True) -> X2EditTransformer:
    """source: 'diffusers' (transformer/), 'bfl' (transformer-bfl.safetensors), 'schnell_bfl'
    (transformer-schnell-bfl.safetensors, guidance_embeds off) or 'community_gguf' (dequantized flux-community.gguf).
    All computation in float32."""
    flux_cfg = cfg.flux
    if source == "diffusers":
        t = FluxTransformer2DModel.from_pretrained(os.path.join(model_dir, "transformer"), torch_dtype=torch.float32)
    else:
        if source == "bfl":
            bfl = load_file(os.path.join(model_dir, "transformer-bfl.safetensors"))
        elif source == "schnell_bfl":
            bfl = load_file(os.path.join(model_dir, "transformer-schnell-bfl.safetensors"))
        elif source == "community_gguf":
            bfl, _ = read_dequantized(os.path.join(model_dir, "flux-community.gguf"))
        else:
            raise ValueError(source)
        guidance = any("guidance_in." in k for k in bfl)
        flux_cfg = FluxConfig(**{**flux_cfg.__dict__, "guidance_embeds": guidance})
        t = FluxTransformer2DModel(**flux_cfg.diffusers_kwargs())
        t.load_state_dict({k: v.float() for k, v in bfl_to_diffusers(bfl, flux_cfg.hidden).items()})
    t = t.float().eval()
    model = X2EditTransformer(flux_cfg, None, transformer=t)
    if with_adapter:
        model.install_moe(cfg.moe)
        load_adapter(os.path.join(model_dir, "adapter"), model)
    return model.eval()


def load_alignnet(model_dir: str, cfg: X2EditConfig) -> AlignNet:
    net = AlignNet(cfg.align)
    sd = torch.load(os.path.join(model_dir, "adapter", "diffusion_pytorch_model.bin"), map_location="cpu",
                    weights_only=True)
    net.load_release_state_dict({k: v.float() for k, v in sd.items()})
    return net.eval()


# ------------------------------------------------------------------------------------------------------------------
# text encoder (Qwen2.5-VL-style HF folder + llama.cpp qwen2vl GGUF)

SEED_QWEN = 1005


def save_released_qwen(model, out: str, cdict: dict) -> None:
    """Saves a Qwen2.5-VL model as the released folder does: safetensors, no generation_config.json, and the
    released config.json (rope_scaling type "mrope")."""
    model.save_pretrained(out, safe_serialization=True)
    gen = os.path.join(out, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cdict, f, indent=2)
        f.write("\n")


def build_text_encoder(model_dir: str, cfg: X2EditConfig):
    """Train the tokenizer, build a random tiny Qwen2_5_VLForConditionalGeneration, write text_encoder/ and
    qwen2vl.gguf. Returns the per-tensor GGUF types."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from .gguf_io import write_qwen2vl_gguf
    from .text import qwen_hf_config_dict
    from .tokenizer_build import gguf_tokenizer_info, train_tokenizer, write_tokenizer_files

    out = os.path.join(model_dir, "text_encoder")
    os.makedirs(out, exist_ok=True)
    tok = train_tokenizer()
    n = tok.get_vocab_size(with_added_tokens=True)
    vocab_size = ((n + 63) // 64) * 64  # padded like the released model (152064 > 151665 tokens)
    cfg.qwen.vocab_size = vocab_size
    cdict = qwen_hf_config_dict(cfg.qwen, vocab_size, tok)
    hf_cfg = Qwen2_5_VLConfig(**{k: v for k, v in json.loads(json.dumps(cdict)).items()
                                 if k not in ("architectures", "model_type", "transformers_version", "torch_dtype")})
    torch.manual_seed(SEED_QWEN)
    model = Qwen2_5_VLForConditionalGeneration(hf_cfg)
    randomize_(model, SEED_QWEN)
    round_to_(model, torch.bfloat16)
    save_released_qwen(model.to(torch.bfloat16), out, cdict)
    write_tokenizer_files(tok, out)
    sd = {k: v.float() for k, v in model.state_dict().items() if not k.startswith("visual.")}
    return write_qwen2vl_gguf(os.path.join(model_dir, "qwen2vl.gguf"), sd, cfg.qwen, gguf_tokenizer_info(tok))


def load_text_state_dict(model_dir: str, source: str = "hf") -> Dict[str, torch.Tensor]:
    """Language-model weights with released names, f32. source 'hf' (text_encoder/model.safetensors) or
    'qwen2vl_gguf' (dequantized qwen2vl.gguf)."""
    if source == "hf":
        sd = load_file(os.path.join(model_dir, "text_encoder", "model.safetensors"))
        return {k: v.float() for k, v in sd.items() if not k.startswith("visual.")}
    if source == "qwen2vl_gguf":
        from .gguf_io import llama_to_hf_qwen_names
        lsd, _ = read_dequantized(os.path.join(model_dir, "qwen2vl.gguf"))
        return llama_to_hf_qwen_names(lsd)
    raise ValueError(source)


def text_config_from_dir(model_dir: str, cfg: X2EditConfig) -> X2EditConfig:
    with open(os.path.join(model_dir, "text_encoder", "config.json")) as f:
        cfg.qwen.vocab_size = json.load(f)["vocab_size"]
    return cfg
