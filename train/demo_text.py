"""Text side of the demo model (train/demo.py): the tokenizer corpus, a differentiable Qwen2.5 text forward with an
explicit attention bias, training of the tiny text encoder (task router + language model), and the exact
"compressed" hidden states that let the DiT train on ~60 text tokens instead of 512.

Why compression is exact. X2Edit left-pads the chat prompt to 512 tokens. In the Qwen2.5 model the real tokens never
see the pads (padding mask), and every pad row is the same token at the same position (1) attending to every key
(transformers' CUDA un-masking, train/text.py), so all pad rows are identical: one pad row with its key counted P
times (an additive log P on that key) reproduces them. AlignNet's 5x5 conv mixes rows t-2..t+2, so after it the pad
rows take 5 distinct values (two at the start, one generic, two next to the real tokens): 6 stand-in rows + the real
rows, each with a multiplicity, reproduce the 512 rows exactly (pooled = multiplicity-weighted mean / 512). In the
DiT, text tokens with identical inputs and RoPE ids (all 0) stay identical, so a key bias of log(multiplicity) on the
text keys gives the same attention as 512 tokens (X2EditTransformer(..., txt_bias=)). Checked against the plain
512-token path by `check_compression`.
"""
from __future__ import annotations

import math
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .configs import QwenConfig
from .text import (TASK_LABELS, qwen_layers, render_chat, route_inputs, route_prompt,
                   x2edit_text)

PAD_ROWS = 6  # stand-in rows for the left padding after AlignNet's conv (kernel 5)
NEG = float("-inf")


def corpus_lines(instructions: Sequence[str], tasks: Sequence[int], n_route: int = 300) -> List[str]:
    """Tokenizer corpus: raw and X2Edit-wrapped instructions, routing prompts with their answers, chat pieces."""
    lines = []
    for s in instructions:
        lines.append(s + "\n")
        lines.append(x2edit_text(s) + "\n")
    for s, t in list(zip(instructions, tasks))[:n_route]:
        lines.append(route_prompt(s) + TASK_LABELS[t] + "\n")
    lines += ["You are a helpful assistant.\n", "system\nuser\nassistant\n"] * 50
    lines += [v + "\n" for v in TASK_LABELS.values()] * 20
    return lines


# ------------------------------------------------------------------------------------------------------------------
# differentiable Qwen2.5 text forward with an additive attention bias (released key names)

def qwen_forward(w: Dict[str, torch.Tensor], q: QwenConfig, ids: torch.Tensor, pos: torch.Tensor,
                 bias: torch.Tensor) -> List[torch.Tensor]:
    """ids, pos [B,T] int64; bias [B,1,T,T] additive: the reference stack (train/text.py), differentiable."""
    return qwen_layers(w, q, ids, pos, bias)


def causal_batch(seqs: Sequence[Sequence[int]], pad_id: int):
    """Right-padded batch for causal LM training: ids, positions, bias [B,1,T,T], valid mask [B,T]."""
    T = max(len(s) for s in seqs)
    B = len(seqs)
    ids = torch.full((B, T), pad_id, dtype=torch.int64)
    valid = torch.zeros(B, T, dtype=torch.bool)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        valid[b, :len(s)] = True
    pos = torch.arange(T)[None].expand(B, T).contiguous()
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None] & valid[:, None, :]
    allowed = allowed | ~allowed.any(-1, keepdim=True)  # filler rows: anything finite
    bias = torch.zeros(B, 1, T, T).masked_fill(~allowed[:, None], NEG)
    return ids, pos, bias, valid


def compressed_batch(real: Sequence[Sequence[int]], pad_id: int, max_length: int = 512):
    """[pad | real tokens | fillers] with the bias that makes row 0 stand for the P = max_length - n left pads."""
    B = len(real)
    T = 1 + max(len(s) for s in real)
    ids = torch.full((B, T), pad_id, dtype=torch.int64)
    pos = torch.zeros(B, T, dtype=torch.int64)
    bias = torch.full((B, 1, T, T), NEG)
    for b, s in enumerate(real):
        n = len(s)
        P = max_length - n
        ids[b, 1:n + 1] = torch.tensor(s)
        pos[b, 0] = 1  # HF: pads get position 1
        pos[b, 1:n + 1] = torch.arange(n)
        bias[b, 0, 0, 0] = math.log(P)  # the pad query sees every key: P pads + the real tokens
        bias[b, 0, 0, 1:n + 1] = 0.0
        bias[b, 0, 1:n + 1, 1:n + 1] = torch.zeros(n, n).masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), NEG)
        bias[b, 0, n + 1:, 0] = 0.0  # filler rows
    return ids, pos, bias


@torch.no_grad()
def compressed_hidden(w, q: QwenConfig, tokenizer, instructions: Sequence[str], batch: int = 64,
                      max_length: int = 512) -> List[torch.Tensor]:
    """Per instruction: stacked hidden states [layers+1, 1 + n, H] (row 0 = the pad row, then the n real tokens of the
    X2Edit-wrapped chat prompt)."""
    out = []
    for i in range(0, len(instructions), batch):
        chunk = instructions[i:i + batch]
        real = [tokenizer(render_chat(tokenizer, s, "x2edit"))["input_ids"] for s in chunk]
        for s in real:
            assert len(s) <= max_length - PAD_ROWS, "instruction too long for the compressed layout"
        ids, pos, bias = compressed_batch(real, tokenizer.pad_token_id, max_length)
        hs = torch.stack(qwen_forward(w, q, ids, pos, bias), dim=1)  # [B, C, T, H]
        for b, s in enumerate(real):
            out.append(hs[b, :, :len(s) + 1].clone())
    return out


def align_inputs(cached: Sequence[torch.Tensor], max_length: int = 512):
    """AlignNet input [B, C, PAD_ROWS + nmax, H] (zeros after the real rows, like the conv's zero padding) and the
    multiplicity of every row [B, PAD_ROWS + nmax] (0 for fillers)."""
    C, _, H = cached[0].shape
    nmax = max(c.shape[1] - 1 for c in cached)
    T = PAD_ROWS + nmax
    x = torch.zeros(len(cached), C, T, H)
    mult = torch.zeros(len(cached), T)
    for b, c in enumerate(cached):
        n = c.shape[1] - 1
        P = max_length - n
        x[b, :, :PAD_ROWS] = c[:, :1]
        x[b, :, PAD_ROWS:PAD_ROWS + n] = c[:, 1:]
        mult[b, :PAD_ROWS] = torch.tensor([1, 1, P - 5, 1, 1, 1], dtype=torch.float32)
        mult[b, PAD_ROWS:PAD_ROWS + n] = 1.0
    return x, mult


def align_compressed(alignnet, x: torch.Tensor, mult: torch.Tensor, max_length: int = 512):
    """AlignNet on the compressed rows -> (prompt_embeds [B,T,D], pooled [B,P], txt_bias [B,T])."""
    h = alignnet.conv(x).squeeze(1)
    h = alignnet.mlp.layernorm(h)
    x2 = alignnet.mlp.projector(h)
    x1 = alignnet.mlp.fc(x2)
    pooled = (x1 * mult[..., None]).sum(1) / max_length
    bias = torch.where(mult > 0, mult.clamp_min(1e-30).log(), torch.full_like(mult, NEG))
    return x2, pooled, bias


# ------------------------------------------------------------------------------------------------------------------
# text encoder training

def route_sequence(tokenizer, instruction: str, task: int) -> Tuple[List[int], int]:
    """Routing chat ids + the answer (label tokens, <|im_end|>); returns (ids, index of the first answer token)."""
    _, ids, _ = route_inputs(tokenizer, instruction)
    ids = ids[0].tolist()
    ans = tokenizer(TASK_LABELS[task])["input_ids"] + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    return ids + ans, len(ids)


def train_text_encoder(hf_model, q: QwenConfig, tokenizer, instructions: Sequence[str], tasks: Sequence[int],
                       steps: int, batch: int, lr: float, seed: int, log=print, progress=None) -> List[Dict[str, float]]:
    """Joint objective: cross-entropy of the routing answer (X2Edit's classification prompt, greedy decoding must
    answer the label) + the language-model loss on the X2Edit-wrapped prompts (so the hidden states carry the
    instruction). All language-model weights train; the vision tower is untouched."""
    params = {k: p for k, p in hf_model.named_parameters() if not k.startswith("visual.")}
    for k, p in hf_model.named_parameters():
        p.requires_grad_(not k.startswith("visual."))
    opt = torch.optim.AdamW(params.values(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    if progress is None:
        progress = lambda s: s / steps  # noqa: E731
    rng = np.random.default_rng(seed)
    pad = tokenizer.pad_token_id
    route_cache: Dict[int, Tuple[List[int], int]] = {}
    chat_cache: Dict[int, List[int]] = {}
    hist = []
    t0 = time.time()
    step = 0
    while (p := progress(step)) < 1.0:
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 30) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))
        idx = rng.integers(len(instructions), size=batch)
        rs, starts, cs = [], [], []
        for i in idx:
            i = int(i)
            if i not in route_cache:
                route_cache[i] = route_sequence(tokenizer, instructions[i], tasks[i])
                chat_cache[i] = tokenizer(render_chat(tokenizer, instructions[i], "x2edit"))["input_ids"]
            s, a = route_cache[i]
            rs.append(s)
            starts.append(a)
            cs.append(chat_cache[i])
        # routing answer
        ids, pos, bias, valid = causal_batch(rs, pad)
        h = qwen_forward(params, q, ids, pos, bias)[-1]
        rows, cols, tgt = [], [], []
        for b, (s, a) in enumerate(zip(rs, starts)):
            for j in range(a, len(s)):  # predict every answer token from the one before
                rows.append(b)
                cols.append(j - 1)
                tgt.append(s[j])
        logits = F.linear(h[rows, cols], params["lm_head.weight"])
        route_loss = F.cross_entropy(logits, torch.tensor(tgt))
        # language model on the wrapped prompts
        ids, pos, bias, valid = causal_batch(cs, pad)
        h = qwen_forward(params, q, ids, pos, bias)[-1]
        logits = F.linear(h[:, :-1], params["lm_head.weight"])
        tgt = ids[:, 1:].masked_fill(~valid[:, 1:], -100)
        lm_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        loss = route_loss + lm_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        step += 1
        hist.append({"route": route_loss.item(), "lm": lm_loss.item()})
        if step % 25 == 0 or step == 1:
            log(f"text step {step} ({100 * p:.0f}%) route {route_loss.item():.4f} lm {lm_loss.item():.3f} "
                f"({time.time() - t0:.0f}s)")
    for p in hf_model.parameters():
        p.requires_grad_(False)
    return hist


@torch.no_grad()
def greedy_route(w, q: QwenConfig, tokenizer, instruction: str, max_new: int = 16) -> str:
    """Greedy decoding of the routing prompt (as the runtime's --task auto), without a KV cache."""
    _, ids, _ = route_inputs(tokenizer, instruction)
    ids = ids[0].tolist()
    stop = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")}
    out = []
    for _ in range(max_new):
        t = torch.tensor([ids])
        T = t.shape[1]
        bias = torch.zeros(1, 1, T, T).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), NEG)
        h = qwen_forward(w, q, t, torch.arange(T)[None], bias)[-1]
        nxt = int(F.linear(h[0, -1], w["lm_head.weight"]).argmax())
        if nxt in stop:
            break
        out.append(nxt)
        ids.append(nxt)
    return tokenizer.decode(out)


# ------------------------------------------------------------------------------------------------------------------
# routing head

def train_route_head(w: Dict[str, torch.Tensor], q: QwenConfig, tokenizer, instructions: Sequence[str],
                     tasks: Sequence[int], steps: int, lr: float, seed: int, log=print, batch: int = 32) -> torch.Tensor:
    """Trains only lm_head (from zeros: a linear classifier over the vocabulary) on the routing answers, on hidden states
    of the frozen text model. The DiT reads the hidden states, never lm_head, so this can run after (or beside) the DiT
    training without changing its inputs, and rerunning it gives the same head. Returns the new lm_head weight."""
    pad = tokenizer.pad_token_id
    feats, tgts = [], []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, len(instructions), batch):
            seqs = [route_sequence(tokenizer, s, t) for s, t in zip(instructions[i:i + batch], tasks[i:i + batch])]
            ids, pos, bias, _ = causal_batch([s for s, _ in seqs], pad)
            h = qwen_forward(w, q, ids, pos, bias)[-1]
            for b, (s, a) in enumerate(seqs):
                feats.append(h[b, a - 1:len(s) - 1])
                tgts.append(torch.tensor(s[a:]))
    x, y = torch.cat(feats), torch.cat(tgts)
    log(f"route head: {len(x)} answer positions of {len(instructions)} instructions ({time.time() - t0:.0f}s)")
    head = torch.zeros_like(w["lm_head.weight"]).requires_grad_(True)
    opt = torch.optim.AdamW([head], lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(len(x), (min(1024, len(x)),), generator=g)
        loss = F.cross_entropy(F.linear(x[idx], head), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 500 == 0 or step == 0:
            with torch.no_grad():
                acc = (F.linear(x, head).argmax(-1) == y).float().mean().item()
            log(f"route head step {step + 1}/{steps} loss {loss.item():.4f} token accuracy {100 * acc:.1f}%")
    return head.detach()
