"""The X2Edit transformer: diffusers' FluxTransformer2DModel weights run with X2Edit's cond stream and MoE-LoRA.

Semantics follow X2E src/transformer_flux.py + src/layers.py (reference/x2edit.md sections 1, 3, 9):
  * cond tokens are embedded by the same x_embedder and modulated with cond_temb = time_text_embed(t=0, same
    guidance, same pooled); every block keeps a separate cond stream with the shared weights;
  * attention runs over [txt | noise | cond] with no mask; the cond output is discarded at the end;
  * RoPE ids: text (0,0,0), noise (0,y,x), cond (0,y+offset,x);
  * MoE-LoRA: double blocks on the image-stream ([noise, cond]) q/k/v and on the OUTPUT of to_out[0]
    (h = W_o a + b; h = h + MoE(h)); single blocks on q/k/v over all tokens, text included;
  * the timestep input is sigma; the model multiplies it (and guidance) by 1000.
All modules used are diffusers' own (norms, embedders, attention projections, FluxPosEmbed, apply_rotary_emb);
this file only wires them the way X2Edit does. The MoE modules are attached as `attn.processor`, so the
state-dict keys are exactly the released `transformer_blocks.N.attn.processor.q_moe_lora....` names.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.utils.checkpoint
import torch.nn.functional as F
from torch import nn
from diffusers import FluxTransformer2DModel
from diffusers.models.embeddings import apply_rotary_emb

from .configs import FluxConfig, MoEConfig
from .moe_lora import DoubleBlockMoE, SingleBlockMoE


def pack_latents(z: torch.Tensor) -> torch.Tensor:
    """[B,C,h,w] -> [B,(h/2)(w/2),4C]: view (B,C,h/2,2,w/2,2), permute (0,2,4,1,3,5)."""
    B, C, h, w = z.shape
    z = z.view(B, C, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return z.reshape(B, (h // 2) * (w // 2), C * 4)


def unpack_latents(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of pack_latents; h, w are the latent (VAE) height and width."""
    B, N, C4 = x.shape
    x = x.view(B, h // 2, w // 2, C4 // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(B, C4 // 4, h, w)


def image_ids(h: int, w: int, offset: int = 0) -> torch.Tensor:
    """RoPE ids of packed tokens for a latent of h x w: (0, y + offset, x), row-major. Returns [N,3] f32."""
    ids = torch.zeros(h // 2, w // 2, 3)
    ids[..., 1] = torch.arange(h // 2)[:, None] + offset
    ids[..., 2] = torch.arange(w // 2)[None, :]
    return ids.reshape(-1, 3)


def text_ids(length: int) -> torch.Tensor:
    return torch.zeros(length, 3)


class X2EditTransformer(nn.Module):
    def __init__(self, flux_cfg: FluxConfig, moe_cfg: Optional[MoEConfig] = None,
                 transformer: Optional[FluxTransformer2DModel] = None):
        super().__init__()
        self.flux_cfg = flux_cfg
        self.moe_cfg = moe_cfg
        self.transformer = transformer if transformer is not None else FluxTransformer2DModel(**flux_cfg.diffusers_kwargs())
        self.task_embedding = None
        self.has_moe = False
        self.gradient_checkpointing = False
        if moe_cfg is not None:
            self.install_moe(moe_cfg)

    # ----------------------------------------------------------------------------------------------------------
    # MoE-LoRA management (release layout)
    def install_moe(self, moe_cfg: MoEConfig):
        dim = self.flux_cfg.hidden
        for blk in self.transformer.transformer_blocks:
            blk.attn.set_processor(DoubleBlockMoE(dim, moe_cfg))
        for blk in self.transformer.single_transformer_blocks:
            blk.attn.set_processor(SingleBlockMoE(dim, moe_cfg))
        self.task_embedding = nn.Embedding(moe_cfg.num_tasks, dim)
        self.moe_cfg = moe_cfg
        self.has_moe = True

    def lora_state_dict(self) -> Dict[str, torch.Tensor]:
        """Exactly X2Edit's `{k: v for k in transformer.state_dict() if '_lora' in k}`."""
        return {k: v for k, v in self.transformer.state_dict().items() if "_lora" in k}

    def base_state_dict(self) -> Dict[str, torch.Tensor]:
        return {k: v for k, v in self.transformer.state_dict().items() if ".processor." not in k}

    def load_lora_state_dict(self, sd: Dict[str, torch.Tensor], strict: bool = True):
        own = self.lora_state_dict()
        missing = [k for k in own if k not in sd]
        unexpected = [k for k in sd if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"LoRA keys mismatch: missing {missing[:4]}... unexpected {unexpected[:4]}...")
        params = dict(self.transformer.named_parameters())
        with torch.no_grad():
            for k, v in sd.items():
                if k in params:
                    params[k].copy_(v.to(params[k].dtype))

    def trainable_parameters(self) -> List[nn.Parameter]:
        """What X2Edit trains: params with '_lora' in the name (experts, shared experts, gates) + task embedding."""
        ps = [p for n, p in self.transformer.named_parameters() if "_lora" in n]
        if self.task_embedding is not None:
            ps += list(self.task_embedding.parameters())
        return ps

    def _proc(self, blk):
        return blk.attn.processor if self.has_moe else None

    # ----------------------------------------------------------------------------------------------------------
    def task_embed(self, task_id: torch.Tensor) -> torch.Tensor:
        return self.task_embedding(task_id.long())

    def forward(self, img: torch.Tensor, cond: Optional[torch.Tensor], txt: torch.Tensor, pooled: torch.Tensor,
                timestep: torch.Tensor, guidance: Optional[torch.Tensor], img_ids: torch.Tensor,
                cond_ids: Optional[torch.Tensor], txt_ids: torch.Tensor, task_id: Optional[torch.Tensor] = None,
                task_emb: Optional[torch.Tensor] = None, use_lora: bool = True, moe_mode: str = "sparse",
                debug: Optional[Dict[str, torch.Tensor]] = None, return_hidden: bool = False,
                txt_bias: Optional[torch.Tensor] = None):
        """txt_bias [B, Lt] (optional): additive attention logits on the text keys (0 = a normal token, log m = a
        token that stands for m identical copies, -inf = filler). With it a left-padded text of 512 tokens whose pad
        rows are identical can be run exactly as a short sequence (train/demo.py); None = X2Edit (no mask)."""
        T = self.transformer
        lora = use_lora and self.has_moe
        if lora and task_emb is None:
            if task_id is None:
                raise ValueError("task_id or task_emb is required when the MoE-LoRA is on")
            task_emb = self.task_embed(task_id)
        x = T.x_embedder(img)
        c = T.x_embedder(cond) if cond is not None else None
        dtype = x.dtype
        t = timestep.to(dtype) * 1000
        g = guidance.to(dtype) * 1000 if (guidance is not None and T.config.guidance_embeds) else None
        t0 = torch.zeros_like(t)
        if g is None:
            temb = T.time_text_embed(t, pooled)
            cond_temb = T.time_text_embed(t0, pooled)
        else:
            temb = T.time_text_embed(t, g, pooled)
            cond_temb = T.time_text_embed(t0, g, pooled)
        e = T.context_embedder(txt)
        ids = [txt_ids, img_ids] + ([cond_ids] if c is not None else [])
        rope = T.pos_embed(torch.cat(ids, dim=0))
        if debug is not None:
            debug.update({"temb": temb, "cond_temb": cond_temb, "img_in": x, "txt_in": e,
                          "rope.cos": rope[0].float(), "rope.sin": rope[1].float()})
            if c is not None:
                debug["cond_in"] = c
        attn_mask = None
        if txt_bias is not None:
            n_img = x.shape[1] + (c.shape[1] if c is not None else 0)
            attn_mask = torch.cat([txt_bias.to(x.dtype), txt_bias.new_zeros(txt_bias.shape[0], n_img).to(x.dtype)],
                                  dim=1)[:, None, None, :]
        hidden_all = []
        ckpt = self.gradient_checkpointing and torch.is_grad_enabled() and debug is None
        for i, blk in enumerate(T.transformer_blocks):
            args = (blk, x, e, c, temb, cond_temb, rope, task_emb if lora else None,
                    self._proc(blk) if lora else None, moe_mode, debug, f"double_blocks.{i}.", attn_mask)
            if ckpt:
                e, x, c = torch.utils.checkpoint.checkpoint(self._double, *args, use_reentrant=False)
            else:
                e, x, c = self._double(*args)
            hidden_all.append(x)
            if debug is not None:
                debug[f"double_blocks.{i}.img"] = x
                debug[f"double_blocks.{i}.txt"] = e
                if c is not None:
                    debug[f"double_blocks.{i}.cond"] = c
        Lt = e.shape[1]
        xs = torch.cat([e, x], dim=1)
        for i, blk in enumerate(T.single_transformer_blocks):
            args = (blk, xs, c, temb, cond_temb, rope, task_emb if lora else None,
                    self._proc(blk) if lora else None, moe_mode, debug, f"single_blocks.{i}.", attn_mask)
            if ckpt:
                xs, c = torch.utils.checkpoint.checkpoint(self._single, *args, use_reentrant=False)
            else:
                xs, c = self._single(*args)
            if debug is not None:
                debug[f"single_blocks.{i}.x"] = xs
                if c is not None:
                    debug[f"single_blocks.{i}.cond"] = c
        x = xs[:, Lt:]
        x = T.norm_out(x, temb)
        if debug is not None:
            debug["final_norm"] = x
        out = T.proj_out(x)
        if return_hidden:
            return out, hidden_all
        return out

    # ----------------------------------------------------------------------------------------------------------
    @staticmethod
    def _heads(t: torch.Tensor, heads: int) -> torch.Tensor:
        B, L, HD = t.shape
        return t.view(B, L, heads, HD // heads).transpose(1, 2)

    @staticmethod
    def _moe(proc, name, h, task_emb, mode, debug, prefix, block_index_first):
        dbg = debug if (debug is not None and block_index_first) else None
        return getattr(proc, f"{name}_moe_lora")(h, task_emb, mode=mode, debug=dbg, prefix=f"{prefix}moe.{name}.")

    def _double(self, blk, x, e, c, temb, cond_temb, rope, task_emb, proc, mode, debug, prefix, attn_mask=None):
        attn = blk.attn
        first = prefix.endswith(".0.")
        N = x.shape[1]
        nx, gate_msa, shift_mlp, scale_mlp, gate_mlp = blk.norm1(x, emb=temb)
        if c is not None:
            nc, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = blk.norm1(c, emb=cond_temb)
            h = torch.cat([nx, nc], dim=1)
        else:
            h = nx
        ne, e_gate_msa, e_shift_mlp, e_scale_mlp, e_gate_mlp = blk.norm1_context(e, emb=temb)

        q, k, v = attn.to_q(h), attn.to_k(h), attn.to_v(h)
        if proc is not None:
            q = q + self._moe(proc, "q", h, task_emb, mode, debug, prefix, first)
            k = k + self._moe(proc, "k", h, task_emb, mode, debug, prefix, first)
            v = v + self._moe(proc, "v", h, task_emb, mode, debug, prefix, first)
        H = attn.heads
        q, k, v = self._heads(q, H), self._heads(k, H), self._heads(v, H)
        eq, ek, ev = (self._heads(attn.add_q_proj(ne), H), self._heads(attn.add_k_proj(ne), H),
                      self._heads(attn.add_v_proj(ne), H))
        q, k = attn.norm_q(q), attn.norm_k(k)
        eq, ek = attn.norm_added_q(eq), attn.norm_added_k(ek)
        Q = apply_rotary_emb(torch.cat([eq, q], dim=2), rope)
        K = apply_rotary_emb(torch.cat([ek, k], dim=2), rope)
        V = torch.cat([ev, v], dim=2)
        o = F.scaled_dot_product_attention(Q, K, V, attn_mask=attn_mask, dropout_p=0.0, is_causal=False)
        B = o.shape[0]
        o = o.transpose(1, 2).reshape(B, -1, attn.heads * (o.shape[-1])).to(Q.dtype)
        Lt = e.shape[1]
        eo, io = o[:, :Lt], o[:, Lt:]
        io = attn.to_out[0](io)
        if proc is not None:
            io = io + self._moe(proc, "proj", io, task_emb, mode, debug, prefix, first)
        io = attn.to_out[1](io)
        eo = attn.to_add_out(eo)
        ao, co = io[:, :N], io[:, N:]

        x = x + gate_msa.unsqueeze(1) * ao
        nx2 = blk.norm2(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        x = x + gate_mlp.unsqueeze(1) * blk.ff(nx2)
        if c is not None:
            c = c + c_gate_msa.unsqueeze(1) * co
            nc2 = blk.norm2(c) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None]
            c = c + c_gate_mlp.unsqueeze(1) * blk.ff(nc2)
        e = e + e_gate_msa.unsqueeze(1) * eo
        ne2 = blk.norm2_context(e) * (1 + e_scale_mlp[:, None]) + e_shift_mlp[:, None]
        e = e + e_gate_mlp.unsqueeze(1) * blk.ff_context(ne2)
        return e, x, c

    def _single(self, blk, xs, c, temb, cond_temb, rope, task_emb, proc, mode, debug, prefix, attn_mask=None):
        attn = blk.attn
        first = prefix.endswith(".0.")
        M = xs.shape[1]
        nxs, gate = blk.norm(xs, emb=temb)
        mlp = blk.act_mlp(blk.proj_mlp(nxs))
        if c is not None:
            ncs, c_gate = blk.norm(c, emb=cond_temb)
            c_mlp = blk.act_mlp(blk.proj_mlp(ncs))
            h = torch.cat([nxs, ncs], dim=1)
        else:
            h = nxs
        q, k, v = attn.to_q(h), attn.to_k(h), attn.to_v(h)
        if proc is not None:
            q = q + self._moe(proc, "q", h, task_emb, mode, debug, prefix, first)
            k = k + self._moe(proc, "k", h, task_emb, mode, debug, prefix, first)
            v = v + self._moe(proc, "v", h, task_emb, mode, debug, prefix, first)
        H = attn.heads
        q, k, v = self._heads(q, H), self._heads(k, H), self._heads(v, H)
        q, k = attn.norm_q(q), attn.norm_k(k)
        q, k = apply_rotary_emb(q, rope), apply_rotary_emb(k, rope)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=0.0, is_causal=False)
        B = o.shape[0]
        o = o.transpose(1, 2).reshape(B, -1, attn.heads * o.shape[-1]).to(q.dtype)
        ao, co = o[:, :M], o[:, M:]
        xs = xs + gate.unsqueeze(1) * blk.proj_out(torch.cat([ao, mlp], dim=2))
        if c is not None:
            c = c + c_gate.unsqueeze(1) * blk.proj_out(torch.cat([co, c_mlp], dim=2))
        return xs, c
