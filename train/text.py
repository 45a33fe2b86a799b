"""The text path: Qwen2.5-VL (text only) hidden states for X2Edit, and the task router.

X2Edit (X2E src/pipeline_1024.py::_get_qwenvl_prompt_embeds) does
    text  = str({"Text input": "", "Instruction editing description": prompt, "image input": "yes"})   # 'x2edit'
            (training uses the raw instruction instead: 'raw')
    chat  = apply_chat_template([{"role": "user", "content": [{"type": "text", "text": text}]}],
                                add_generation_prompt=True)      # default system message inserted by the template
    ids   = processor(text=[chat], padding="max_length", max_length=512, truncation=True)   # LEFT padding
    hs    = generate(ids, max_new_tokens=1, output_hidden_states=True).hidden_states[0]      # prefill step
    stack = torch.stack(hs, dim=1)  -> [B, layers+1, 512, H]  (embeddings, layer outputs, last after final norm)
Positions (HF get_rope_index, text only): cumsum(mask) - 1 with pads set to 1, the same on the 3 mRoPE axes.
Masking: causal + padding; rows whose every key is masked (the left pads) are UN-MASKED and attend to all keys, as
transformers 4.51 does under sdpa on CUDA (AttentionMaskConverter._unmask_unattended), which is how X2Edit runs.

`qwen_text_forward` is our own implementation of that (used for the fixtures); `hf_hidden_states` runs the
transformers model with the same semantics on any device (tests compare the two).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from .configs import QwenConfig
from .tokenizer_build import SPECIAL_TOKENS

# ------------------------------------------------------------------------------------------------------------------
# prompts

def x2edit_text(prompt: str) -> str:
    return str({"Text input": "", "Instruction editing description": prompt, "image input": "yes"})


def chat_messages(prompt: str, prompt_format: str = "x2edit") -> List[Dict]:
    if prompt_format == "x2edit":
        text = x2edit_text(prompt)
    elif prompt_format == "raw":
        text = prompt
    else:
        raise ValueError(f"prompt_format must be x2edit or raw, got {prompt_format!r}")
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


def render_chat(tokenizer, prompt: str, prompt_format: str = "x2edit") -> str:
    return tokenizer.apply_chat_template(chat_messages(prompt, prompt_format), tokenize=False,
                                         add_generation_prompt=True)


def tokenize(tokenizer, prompt: str, prompt_format: str = "x2edit", max_length: int = 512):
    """-> (input_ids [1,L] int64, attention_mask [1,L] int64), left padded with <|endoftext|>, truncated (right)."""
    assert tokenizer.padding_side == "left"
    chat = render_chat(tokenizer, prompt, prompt_format)
    enc = tokenizer([chat], padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
    return enc["input_ids"].long(), enc["attention_mask"].long()


def load_tokenizer(text_encoder_dir: str):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(text_encoder_dir, padding_side="left")


# X2E src/intention_qwen3.py: labels and the classification prompt (kept byte for byte, whitespace included)
TASK_LABELS = {1: "删除主体", 2: "添加主体", 3: "风格更改", 4: "背景更改", 5: "颜色更改", 6: "材料更改", 7: "动作更改",
               8: "替换主体", 9: "人物修图", 10: "文字更改", 11: "色调变换", 12: "相机移动", 13: "implicit_change",
               14: "low_leval", 15: "subject"}


def route_prompt(instruction: str) -> str:
    labels = list(TASK_LABELS.values())
    return (
        "\n"
        f"        我现在输入一个图片编辑指令:{instruction}，总共15个类别:{labels}，判断我的指令属于哪个类别。直接输出类别，不需要中间结果; \n"
        "        其中implicit_change表示推理的问题，比如**情况，发生什么？或者改变物体之间关系; low_leval表示图片转换，比如Canny/Depth/Linear image generates images； \n"
        "        subject表示没有明确的编辑意图，而是对图片的主体做了其他描述的个性化生成,比如A sticker of this object。\n"
        "    "
    )


def route_inputs(tokenizer, instruction: str):
    """Chat prompt with the message content as a plain string (as intention_qwen3.py), no padding."""
    text = tokenizer.apply_chat_template([{"role": "user", "content": route_prompt(instruction)}], tokenize=False,
                                         add_generation_prompt=True)
    enc = tokenizer([text], return_tensors="pt")
    return text, enc["input_ids"].long(), enc["attention_mask"].long()


def task_id_from_output(text: str) -> int:
    """X2Edit: the decoded output must equal a label exactly, otherwise task 0."""
    inv = {v: k for k, v in TASK_LABELS.items()}
    return inv.get(text.strip("\n"), 0)


# ------------------------------------------------------------------------------------------------------------------
# tiny HF model

def qwen_hf_config_dict(q: QwenConfig, vocab_size: int, tok) -> Dict:
    """config.json in the released Qwen2.5-VL-7B-Instruct layout (rope_scaling type 'mrope')."""
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "vision_token_id": ids["<|vision_pad|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "hidden_act": "silu",
        "hidden_size": q.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": q.intermediate_size,
        "max_position_embeddings": q.max_position_embeddings,
        "max_window_layers": q.num_hidden_layers,
        "model_type": "qwen2_5_vl",
        "num_attention_heads": q.num_attention_heads,
        "num_hidden_layers": q.num_hidden_layers,
        "num_key_value_heads": q.num_key_value_heads,
        "rms_norm_eps": q.rms_norm_eps,
        "rope_theta": q.rope_theta,
        "sliding_window": q.sliding_window,
        "tie_word_embeddings": q.tie_word_embeddings,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vision_config": {
            "depth": q.vision_depth,
            "hidden_act": "silu",
            "hidden_size": q.vision_hidden_size,
            "intermediate_size": q.vision_intermediate_size,
            "num_heads": q.vision_num_heads,
            "in_chans": 3,
            "out_hidden_size": q.hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "spatial_patch_size": 14,
            "window_size": 112,
            "fullatt_block_indexes": list(q.vision_fullatt_block_indexes),
            "tokens_per_second": 2,
            "temporal_patch_size": 2,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": list(q.mrope_section)},
        "vocab_size": vocab_size,
    }


def load_hf_text_model(text_encoder_dir: str, attn: str = "sdpa"):
    from transformers import Qwen2_5_VLForConditionalGeneration
    m = Qwen2_5_VLForConditionalGeneration.from_pretrained(text_encoder_dir, torch_dtype=torch.float32,
                                                           attn_implementation=attn)
    return m.eval()


def text_state_dict(hf_model) -> Dict[str, torch.Tensor]:
    """Released key names of the language part (model.*, lm_head.*) as transformers 4.51 saves them."""
    return {k: v for k, v in hf_model.state_dict().items() if not k.startswith("visual.")}


# ------------------------------------------------------------------------------------------------------------------
# our own forward

def left_pad_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """HF get_rope_index (text only): cumsum(mask) - 1, pads set to 1. [B,L] int64 (same on t/h/w axes)."""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 1)


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(x.dtype)


def _rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def mrope_cos_sin(pos3: torch.Tensor, head_dim: int, theta: float, mrope_section) -> Tuple[torch.Tensor, torch.Tensor]:
    """pos3 [3,B,L] -> cos, sin [B,L,head_dim] with Qwen2.5-VL's multimodal section interleave."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = pos3.float()[..., None] * inv_freq  # [3,B,L,hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [3,B,L,hd]
    cos, sin = emb.cos(), emb.sin()
    sec = list(mrope_section) * 2
    cos = torch.cat([m[i % 3] for i, m in enumerate(cos.split(sec, dim=-1))], dim=-1)
    sin = torch.cat([m[i % 3] for i, m in enumerate(sin.split(sec, dim=-1))], dim=-1)
    return cos, sin


def attention_bias(attention_mask: torch.Tensor, cuda_unmask: bool = True) -> torch.Tensor:
    """Additive [B,1,L,L] mask: causal + key padding; fully masked query rows un-masked (CUDA semantics)."""
    B, L = attention_mask.shape
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    allowed = causal[None] & attention_mask.bool()[:, None, :]
    if cuda_unmask:
        dead = ~allowed.any(dim=-1, keepdim=True)
        allowed = allowed | dead
    bias = torch.zeros(B, 1, L, L)
    return bias.masked_fill(~allowed[:, None], torch.finfo(torch.float32).min)


def qwen_layers(w: Dict[str, torch.Tensor], q: QwenConfig, ids: torch.Tensor, pos: torch.Tensor,
                bias: torch.Tensor) -> List[torch.Tensor]:
    """The Qwen2.5 text stack on f32 weights with released key names, differentiable. ids, pos [B,L] int64; bias
    [B,1,L,L] additive. Returns the layers+1 hidden states [B,L,H] (embeddings, each layer's output, the last after
    the final RMSNorm), as transformers' output_hidden_states."""
    x = F.embedding(ids, w["model.embed_tokens.weight"])
    B, L, H = x.shape
    nh, nkv, hd = q.num_attention_heads, q.num_key_value_heads, q.head_dim
    cos, sin = mrope_cos_sin(pos[None].expand(3, B, L), hd, q.rope_theta, q.mrope_section)
    cos, sin = cos[:, None], sin[:, None]
    hs = []
    for i in range(q.num_hidden_layers):
        hs.append(x)
        p = f"model.layers.{i}."
        h = _rms(x, w[p + "input_layernorm.weight"], q.rms_norm_eps)
        qq = F.linear(h, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]).view(B, L, nh, hd).transpose(1, 2)
        kk = F.linear(h, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"]).view(B, L, nkv, hd).transpose(1, 2)
        vv = F.linear(h, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"]).view(B, L, nkv, hd).transpose(1, 2)
        qq = qq * cos + _rotate_half(qq) * sin
        kk = kk * cos + _rotate_half(kk) * sin
        kk = kk.repeat_interleave(nh // nkv, dim=1)
        vv = vv.repeat_interleave(nh // nkv, dim=1)
        o = F.scaled_dot_product_attention(qq, kk, vv, attn_mask=bias)
        o = o.transpose(1, 2).reshape(B, L, nh * hd)
        x = x + F.linear(o, w[p + "self_attn.o_proj.weight"])
        h = _rms(x, w[p + "post_attention_layernorm.weight"], q.rms_norm_eps)
        m = F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"])
        x = x + F.linear(m, w[p + "mlp.down_proj.weight"])
    hs.append(_rms(x, w["model.norm.weight"], q.rms_norm_eps))
    return hs


@torch.no_grad()
def qwen_text_forward(sd: Dict[str, torch.Tensor], q: QwenConfig, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor, cuda_unmask: bool = True) -> torch.Tensor:
    """sd: released key names (model.embed_tokens.weight, model.layers.N..., model.norm.weight).
    Returns hidden_states [B, layers+1, L, H] f32."""
    w = {k: v.float() for k, v in sd.items()}
    hs = qwen_layers(w, q, input_ids, left_pad_position_ids(attention_mask), attention_bias(attention_mask, cuda_unmask))
    return torch.stack(hs, dim=1)


@torch.no_grad()
def greedy_generate(sd: Dict[str, torch.Tensor], q: QwenConfig, input_ids: torch.Tensor, max_new_tokens: int,
                    eos_ids: List[int]) -> torch.Tensor:
    """Greedy decoding without a KV cache (unpadded batch of 1): the reference for the route fixture."""
    ids = input_ids
    out = []
    lm = sd["lm_head.weight"].float()
    for _ in range(max_new_tokens):
        hs = qwen_text_forward(sd, q, ids, torch.ones_like(ids))
        logits = F.linear(hs[:, -1, -1], lm)
        nxt = int(logits.argmax(-1))
        out.append(nxt)
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        if nxt in eos_ids:
            break
    return torch.tensor([out], dtype=torch.int64)


# ------------------------------------------------------------------------------------------------------------------
# transformers' forward with X2Edit's CUDA semantics, on any device

@contextlib.contextmanager
def cuda_unmask_patch():
    """Make Qwen2_5_VLModel._update_causal_mask apply _unmask_unattended whatever the device (transformers 4.51
    only does it for CUDA/XPU tensors under sdpa)."""
    from transformers.modeling_attn_mask_utils import AttentionMaskConverter
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl as mq
    orig = mq.Qwen2_5_VLModel._update_causal_mask

    def patched(self, attention_mask, input_tensor, *args, **kwargs):
        m = orig(self, attention_mask, input_tensor, *args, **kwargs)
        if m is not None and m.dim() == 4 and attention_mask is not None and attention_mask.device.type == "cpu":
            m = AttentionMaskConverter._unmask_unattended(m, torch.finfo(input_tensor.dtype).min)
        return m

    mq.Qwen2_5_VLModel._update_causal_mask = patched
    try:
        yield
    finally:
        mq.Qwen2_5_VLModel._update_causal_mask = orig


@torch.no_grad()
def hf_hidden_states(hf_model, input_ids, attention_mask, cuda_unmask: bool = True) -> torch.Tensor:
    pos = left_pad_position_ids(attention_mask)
    pos3 = pos[None].expand(3, -1, -1)
    ctx = cuda_unmask_patch() if cuda_unmask else contextlib.nullcontext()
    with ctx:
        out = hf_model.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos3,
                             output_hidden_states=True, use_cache=False, return_dict=True)
    return torch.stack(out.hidden_states, dim=1)


@torch.no_grad()
def hf_generate_hidden_states(hf_model, input_ids, attention_mask) -> torch.Tensor:
    """Exactly X2Edit's call: generate(max_new_tokens=1, output_hidden_states=True).hidden_states[0]."""
    hf_model.rope_deltas = None
    out = hf_model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=1, do_sample=False,
                            output_hidden_states=True, return_dict_in_generate=True,
                            pad_token_id=hf_model.config.bos_token_id)
    hf_model.rope_deltas = None
    return torch.stack(out.hidden_states[0], dim=1)
