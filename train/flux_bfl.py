"""BFL (black-forest-labs/flux) single-file names <-> diffusers FluxTransformer2DModel names.

Mapping: reference/x2edit.md section 9 (DIF scripts/convert_flux_to_diffusers.py): fused qkv, single-block
linear1 = [q | k | v | mlp_in], final_layer.adaLN_modulation.1 in BFL (shift, scale) order vs diffusers
norm_out.linear (scale, shift).

`bfl_forward` is an independent, BFL-convention implementation of the base FLUX forward (no cond stream, no
LoRA) used by the tests to check the conversion (diffusers' own converter hard-codes the 3072 width).
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

PREFIX = "model.diffusion_model."


def _swap_halves(w: torch.Tensor) -> torch.Tensor:
    a, b = w.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def diffusers_to_bfl(sd: Dict[str, torch.Tensor], num_layers: int, num_single_layers: int,
                     guidance: bool) -> Dict[str, torch.Tensor]:
    o: Dict[str, torch.Tensor] = {}

    def lin(dst, src):
        o[f"{dst}.weight"] = sd[f"{src}.weight"]
        if f"{src}.bias" in sd:
            o[f"{dst}.bias"] = sd[f"{src}.bias"]

    lin("img_in", "x_embedder")
    lin("txt_in", "context_embedder")
    lin("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    lin("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    lin("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    lin("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    if guidance:
        lin("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
        lin("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    for i in range(num_layers):
        s, d = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        lin(d + "img_mod.lin", s + "norm1.linear")
        lin(d + "txt_mod.lin", s + "norm1_context.linear")
        for part in ("weight", "bias"):
            o[d + f"img_attn.qkv.{part}"] = torch.cat([sd[s + f"attn.to_{x}.{part}"] for x in "qkv"], 0)
            o[d + f"txt_attn.qkv.{part}"] = torch.cat([sd[s + f"attn.add_{x}_proj.{part}"] for x in "qkv"], 0)
        o[d + "img_attn.norm.query_norm.scale"] = sd[s + "attn.norm_q.weight"]
        o[d + "img_attn.norm.key_norm.scale"] = sd[s + "attn.norm_k.weight"]
        o[d + "txt_attn.norm.query_norm.scale"] = sd[s + "attn.norm_added_q.weight"]
        o[d + "txt_attn.norm.key_norm.scale"] = sd[s + "attn.norm_added_k.weight"]
        lin(d + "img_attn.proj", s + "attn.to_out.0")
        lin(d + "txt_attn.proj", s + "attn.to_add_out")
        lin(d + "img_mlp.0", s + "ff.net.0.proj")
        lin(d + "img_mlp.2", s + "ff.net.2")
        lin(d + "txt_mlp.0", s + "ff_context.net.0.proj")
        lin(d + "txt_mlp.2", s + "ff_context.net.2")
    for i in range(num_single_layers):
        s, d = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for part in ("weight", "bias"):
            o[d + f"linear1.{part}"] = torch.cat(
                [sd[s + f"attn.to_{x}.{part}"] for x in "qkv"] + [sd[s + f"proj_mlp.{part}"]], 0)
        lin(d + "linear2", s + "proj_out")
        o[d + "norm.query_norm.scale"] = sd[s + "attn.norm_q.weight"]
        o[d + "norm.key_norm.scale"] = sd[s + "attn.norm_k.weight"]
        lin(d + "modulation.lin", s + "norm.linear")
    lin("final_layer.linear", "proj_out")
    o["final_layer.adaLN_modulation.1.weight"] = _swap_halves(sd["norm_out.linear.weight"])
    o["final_layer.adaLN_modulation.1.bias"] = _swap_halves(sd["norm_out.linear.bias"])
    return {k: v.contiguous() for k, v in o.items()}


def bfl_to_diffusers(bfl: Dict[str, torch.Tensor], hidden: int) -> Dict[str, torch.Tensor]:
    sd = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in bfl.items()}
    o: Dict[str, torch.Tensor] = {}
    num_layers = 1 + max([int(k.split(".")[1]) for k in sd if k.startswith("double_blocks.")], default=-1)
    num_single = 1 + max([int(k.split(".")[1]) for k in sd if k.startswith("single_blocks.")], default=-1)

    def lin(src, dst):
        o[f"{dst}.weight"] = sd[f"{src}.weight"]
        if f"{src}.bias" in sd:
            o[f"{dst}.bias"] = sd[f"{src}.bias"]

    lin("img_in", "x_embedder")
    lin("txt_in", "context_embedder")
    lin("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    lin("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    lin("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    lin("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    if "guidance_in.in_layer.weight" in sd:
        lin("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
        lin("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    for i in range(num_layers):
        d, s = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        lin(s + "img_mod.lin", d + "norm1.linear")
        lin(s + "txt_mod.lin", d + "norm1_context.linear")
        for part in ("weight", "bias"):
            for x, t in zip("qkv", sd[s + f"img_attn.qkv.{part}"].chunk(3, 0)):
                o[d + f"attn.to_{x}.{part}"] = t
            for x, t in zip("qkv", sd[s + f"txt_attn.qkv.{part}"].chunk(3, 0)):
                o[d + f"attn.add_{x}_proj.{part}"] = t
        o[d + "attn.norm_q.weight"] = sd[s + "img_attn.norm.query_norm.scale"]
        o[d + "attn.norm_k.weight"] = sd[s + "img_attn.norm.key_norm.scale"]
        o[d + "attn.norm_added_q.weight"] = sd[s + "txt_attn.norm.query_norm.scale"]
        o[d + "attn.norm_added_k.weight"] = sd[s + "txt_attn.norm.key_norm.scale"]
        lin(s + "img_attn.proj", d + "attn.to_out.0")
        lin(s + "txt_attn.proj", d + "attn.to_add_out")
        lin(s + "img_mlp.0", d + "ff.net.0.proj")
        lin(s + "img_mlp.2", d + "ff.net.2")
        lin(s + "txt_mlp.0", d + "ff_context.net.0.proj")
        lin(s + "txt_mlp.2", d + "ff_context.net.2")
    for i in range(num_single):
        d, s = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for part in ("weight", "bias"):
            t = sd[s + f"linear1.{part}"]
            q, k, v, mlp = torch.split(t, [hidden, hidden, hidden, t.shape[0] - 3 * hidden], 0)
            o[d + f"attn.to_q.{part}"], o[d + f"attn.to_k.{part}"], o[d + f"attn.to_v.{part}"] = q, k, v
            o[d + f"proj_mlp.{part}"] = mlp
        lin(s + "linear2", d + "proj_out")
        o[d + "attn.norm_q.weight"] = sd[s + "norm.query_norm.scale"]
        o[d + "attn.norm_k.weight"] = sd[s + "norm.key_norm.scale"]
        lin(s + "modulation.lin", d + "norm.linear")
    lin("final_layer.linear", "proj_out")
    o["norm_out.linear.weight"] = _swap_halves(sd["final_layer.adaLN_modulation.1.weight"])
    o["norm_out.linear.bias"] = _swap_halves(sd["final_layer.adaLN_modulation.1.bias"])
    return {k: v.contiguous() for k, v in o.items()}


# ------------------------------------------------------------------------------------------------------------------
# Independent BFL-convention forward (base model, no cond stream, no LoRA), following BFL src/flux/{model,math}.py.

def _timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    t = 1000.0 * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _rope(pos: torch.Tensor, dim: int, theta: float) -> torch.Tensor:
    scale = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    omega = 1.0 / (theta ** scale)
    out = pos.double()[..., None] * omega  # [L, dim/2]
    out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
    return out.view(*out.shape[:-1], 2, 2).float()


def _apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    x_ = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    out = freqs[..., 0] * x_[..., 0] + freqs[..., 1] * x_[..., 1]
    return out.reshape(*x.shape).type_as(x)


def _rms(x, scale, eps=1e-6):
    xf = x.float()
    r = torch.rsqrt(torch.mean(xf ** 2, dim=-1, keepdim=True) + eps)
    return (xf * r).to(x.dtype) * scale


def _ln(x):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6)


def bfl_forward(w: Dict[str, torch.Tensor], img, txt, pooled, timestep, guidance, img_ids, txt_ids,
                heads: int, axes_dim, theta: float = 10000.0):
    """BFL Flux.forward with BFL-named weights (prefix allowed). Inputs as in the stage contract (batch 1)."""
    w = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in w.items()}

    def L(name, x):
        return F.linear(x, w[name + ".weight"], w.get(name + ".bias"))

    def mlp_emb(prefix, x):
        return L(prefix + ".out_layer", F.silu(L(prefix + ".in_layer", x)))

    x = L("img_in", img)
    vec = mlp_emb("time_in", _timestep_embedding(timestep))
    if "guidance_in.in_layer.weight" in w and guidance is not None:
        vec = vec + mlp_emb("guidance_in", _timestep_embedding(guidance))
    vec = vec + mlp_emb("vector_in", pooled)
    t = L("txt_in", txt)
    ids = torch.cat([txt_ids, img_ids], 0)
    pe = torch.cat([_rope(ids[:, i], axes_dim[i], theta) for i in range(3)], dim=-3)[None, None]  # [1,1,L,D/2,2,2]
    Lt = t.shape[1]

    def split_heads(qkv):
        B, Lq, three_hd = qkv.shape
        D = three_hd // 3 // heads
        return qkv.view(B, Lq, 3, heads, D).permute(2, 0, 3, 1, 4)

    def attention(q, k, v):
        q, k = _apply_rope(q, pe), _apply_rope(k, pe)
        o = F.scaled_dot_product_attention(q, k, v)
        B, H, Lq, D = o.shape
        return o.transpose(1, 2).reshape(B, Lq, H * D)

    nd = 1 + max([int(k.split(".")[1]) for k in w if k.startswith("double_blocks.")], default=-1)
    ns = 1 + max([int(k.split(".")[1]) for k in w if k.startswith("single_blocks.")], default=-1)
    for i in range(nd):
        p = f"double_blocks.{i}."
        im = L(p + "img_mod.lin", F.silu(vec))[:, None].chunk(6, dim=-1)
        tm = L(p + "txt_mod.lin", F.silu(vec))[:, None].chunk(6, dim=-1)
        xi = (1 + im[1]) * _ln(x) + im[0]
        ti = (1 + tm[1]) * _ln(t) + tm[0]
        iq, ik, iv = split_heads(L(p + "img_attn.qkv", xi))
        iq, ik = _rms(iq, w[p + "img_attn.norm.query_norm.scale"]), _rms(ik, w[p + "img_attn.norm.key_norm.scale"])
        tq, tk, tv = split_heads(L(p + "txt_attn.qkv", ti))
        tq, tk = _rms(tq, w[p + "txt_attn.norm.query_norm.scale"]), _rms(tk, w[p + "txt_attn.norm.key_norm.scale"])
        a = attention(torch.cat([tq, iq], 2), torch.cat([tk, ik], 2), torch.cat([tv, iv], 2))
        ta, ia = a[:, :Lt], a[:, Lt:]
        x = x + im[2] * L(p + "img_attn.proj", ia)
        x = x + im[5] * L(p + "img_mlp.2", F.gelu(L(p + "img_mlp.0", (1 + im[4]) * _ln(x) + im[3]), approximate="tanh"))
        t = t + tm[2] * L(p + "txt_attn.proj", ta)
        t = t + tm[5] * L(p + "txt_mlp.2", F.gelu(L(p + "txt_mlp.0", (1 + tm[4]) * _ln(t) + tm[3]), approximate="tanh"))
    xs = torch.cat([t, x], 1)
    hidden = x.shape[-1]
    for i in range(ns):
        p = f"single_blocks.{i}."
        mod = L(p + "modulation.lin", F.silu(vec))[:, None].chunk(3, dim=-1)
        xm = (1 + mod[1]) * _ln(xs) + mod[0]
        h = L(p + "linear1", xm)
        qkv, mlp = torch.split(h, [3 * hidden, h.shape[-1] - 3 * hidden], dim=-1)
        q, k, v = split_heads(qkv)
        q, k = _rms(q, w[p + "norm.query_norm.scale"]), _rms(k, w[p + "norm.key_norm.scale"])
        a = attention(q, k, v)
        xs = xs + mod[2] * L(p + "linear2", torch.cat([a, F.gelu(mlp, approximate="tanh")], -1))
    x = xs[:, Lt:]
    shift, scale = L("final_layer.adaLN_modulation.1", F.silu(vec)).chunk(2, dim=-1)
    x = (1 + scale[:, None]) * _ln(x) + shift[:, None]
    return L("final_layer.linear", x)
