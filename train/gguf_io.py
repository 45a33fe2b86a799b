"""GGUF files in the community conventions, written with llama.cpp's `gguf` Python package (gguf-py).

* `write_flux_community_gguf`: a city96 / stable-diffusion.cpp style FLUX file: BFL tensor names WITH the
  `model.diffusion_model.` prefix (as sd.cpp's `--diffusion-model ... --convert` writes them), no KV pairs at all
  (no config, no general.architecture: readers must detect FLUX from the tensor names), a mix of storage types.
* `write_qwen2vl_gguf`: a llama.cpp `qwen2vl` text model (convert_hf_to_gguf naming and tokenizer KVs).
* K-quants (Q4_K, Q5_K, Q6_K): gguf-py 0.19 can only dequantize them, so `quantize_k` below encodes VALID blocks
  with a simple min/max quantiser (not bit-exact with ggml's reference quantiser; only the block layout matters
  because every expected output is computed from the DEQUANTIZED weights, read back from the written file).
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as QT

QK_K = 256


def _f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.float32)
    np.divide(a, b, out=out, where=(b != 0))
    return out


def _pack_scale_min_k4(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """6-bit scales/mins of 8 sub-blocks -> 12 bytes (ggml get_scale_min_k4 layout)."""
    sc = sc.astype(np.uint8)
    m = m.astype(np.uint8)
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, :4] & 63) | ((sc[:, 4:] >> 4) << 6)
    out[:, 4:8] = (m[:, :4] & 63) | ((m[:, 4:] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:] & 15) | ((m[:, 4:] & 15) << 4)
    return out


def _affine_k(x: np.ndarray, nmax: int):
    """x: [nb, 8, 32] -> (d16 [nb], dmin16 [nb], sc [nb,8], m [nb,8], q [nb,8,32]) with x ~ d*sc*q - dmin*m."""
    mn = np.minimum(x.min(axis=-1), 0.0)
    mx = np.maximum(x.max(axis=-1), 0.0)
    scale = (mx - mn) / nmax
    minv = -mn
    d16 = _f16(scale.max(axis=-1) / 63.0)
    dmin16 = _f16(minv.max(axis=-1) / 63.0)
    d = d16.astype(np.float32)[:, None]
    dmin = dmin16.astype(np.float32)[:, None]
    sc = np.clip(np.rint(_safe_div(scale, d)), 0, 63)
    m = np.clip(np.rint(_safe_div(minv, dmin)), 0, 63)
    eff_scale = (d * sc)[..., None]
    eff_min = (dmin * m)[..., None]
    q = np.clip(np.rint(_safe_div(x + eff_min, eff_scale)), 0, nmax).astype(np.uint8)
    return d16, dmin16, sc, m, q


def quantize_q4_k(rows: np.ndarray) -> np.ndarray:
    n, k = rows.shape
    x = rows.reshape(-1, 8, 32).astype(np.float32)
    d16, dmin16, sc, m, q = _affine_k(x, 15)
    nb = x.shape[0]
    q = q.reshape(nb, 4, 2, 32)
    qs = (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(nb, 128)
    blocks = np.concatenate([d16.view(np.uint8).reshape(nb, 2), dmin16.view(np.uint8).reshape(nb, 2),
                             _pack_scale_min_k4(sc, m), qs], axis=1)
    return blocks.reshape(n, (k // QK_K) * 144)


def quantize_q5_k(rows: np.ndarray) -> np.ndarray:
    n, k = rows.shape
    x = rows.reshape(-1, 8, 32).astype(np.float32)
    d16, dmin16, sc, m, q = _affine_k(x, 31)
    nb = x.shape[0]
    low = q & 15
    high = (q >> 4) & 1  # [nb, 8, 32]
    qh = np.zeros((nb, 32), dtype=np.uint8)
    for j in range(8):
        qh |= (high[:, j, :] << j).astype(np.uint8)
    low = low.reshape(nb, 4, 2, 32)
    qs = (low[:, :, 0, :] | (low[:, :, 1, :] << 4)).reshape(nb, 128)
    blocks = np.concatenate([d16.view(np.uint8).reshape(nb, 2), dmin16.view(np.uint8).reshape(nb, 2),
                             _pack_scale_min_k4(sc, m), qh, qs], axis=1)
    return blocks.reshape(n, (k // QK_K) * 176)


def quantize_q6_k(rows: np.ndarray) -> np.ndarray:
    n, k = rows.shape
    x = rows.reshape(-1, 16, 16).astype(np.float32)
    nb = x.shape[0]
    amax = np.abs(x).max(axis=-1)  # [nb, 16]
    scale = amax / 31.0
    d16 = _f16(scale.max(axis=-1) / 127.0)
    d = d16.astype(np.float32)[:, None]
    sc = np.clip(np.rint(_safe_div(scale, d)), -128, 127).astype(np.int8)
    eff = (d * sc.astype(np.float32))[..., None]
    q = (np.clip(np.rint(_safe_div(x, eff)), -32, 31) + 32).astype(np.uint8).reshape(nb, 8, 32)
    ql = np.zeros((nb, 128), dtype=np.uint8)
    qh = np.zeros((nb, 64), dtype=np.uint8)
    for h in range(2):
        for g in range(4):
            grp = q[:, h * 4 + g, :]
            lo = h * 64 + (g % 2) * 32
            ql[:, lo:lo + 32] |= ((grp & 15) << (4 * (g // 2))).astype(np.uint8)
            qh[:, h * 32:h * 32 + 32] |= (((grp >> 4) & 3) << (2 * g)).astype(np.uint8)
    blocks = np.concatenate([ql, qh, sc.view(np.uint8), d16.view(np.uint8).reshape(nb, 2)], axis=1)
    return blocks.reshape(n, (k // QK_K) * 210)


K_QUANTIZERS = {QT.Q4_K: quantize_q4_k, QT.Q5_K: quantize_q5_k, QT.Q6_K: quantize_q6_k}


def encode(arr: np.ndarray, qtype: QT) -> np.ndarray:
    """numpy f32 tensor -> the array to hand to GGUFWriter.add_tensor (raw_dtype=qtype for block types)."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if qtype == QT.F32:
        return arr
    if qtype == QT.F16:
        return arr.astype(np.float16)
    if qtype in K_QUANTIZERS:
        rows = arr.reshape(-1, arr.shape[-1])
        if rows.shape[-1] % QK_K:
            raise ValueError(f"{qtype.name} needs rows divisible by 256, got {arr.shape}")
        return K_QUANTIZERS[qtype](rows).reshape(*arr.shape[:-1], -1)
    return gguf.quants.quantize(arr, qtype)


def add_tensor(writer: gguf.GGUFWriter, name: str, t: torch.Tensor, qtype: QT):
    arr = t.detach().float().cpu().numpy()
    data = encode(arr, qtype)
    if qtype in (QT.F32, QT.F16):
        writer.add_tensor(name, data)
    else:
        writer.add_tensor(name, data, raw_dtype=qtype)


def read_dequantized(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Read a GGUF file back and dequantize every tensor with gguf.quants.dequantize.

    Returns ({name: f32 tensor in numpy/PyTorch dim order}, {name: type name})."""
    r = gguf.GGUFReader(path)
    out, types = {}, {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        deq = gguf.quants.dequantize(t.data, t.tensor_type)
        out[t.name] = torch.from_numpy(np.array(deq, dtype=np.float32).reshape(shape))
        types[t.name] = t.tensor_type.name
    return out, types


def _no_kv_writer(path: str) -> gguf.GGUFWriter:
    w = gguf.GGUFWriter(path, arch="flux")
    w.kv_data[0].pop(gguf.Keys.General.ARCHITECTURE, None)  # sd.cpp writes no KV pairs at all
    return w


# ------------------------------------------------------------------------------------------------------------------
# FLUX (city96 / sd.cpp community file)

FLUX_TYPE_RULES: List[Tuple[str, QT]] = [
    # embedders / final layer kept in float (as city96's llama-quantize patch does), in mixed float types
    (r"^img_in\.weight$", QT.BF16),
    (r"^txt_in\.weight$", QT.F16),
    (r"^time_in\..*\.weight$", QT.F16),
    (r"^vector_in\..*\.weight$", QT.BF16),
    (r"^guidance_in\..*\.weight$", QT.F32),
    (r"^final_layer\.linear\.weight$", QT.F16),
    (r"^final_layer\.adaLN_modulation\.1\.weight$", QT.BF16),
    (r"^double_blocks\.0\.img_mod\.lin\.weight$", QT.Q8_0),
    (r"^double_blocks\.0\.txt_mod\.lin\.weight$", QT.Q4_0),
    (r"^double_blocks\.0\.img_attn\.qkv\.weight$", QT.Q5_0),
    (r"^double_blocks\.0\.txt_attn\.qkv\.weight$", QT.Q5_1),
    (r"^double_blocks\.0\.img_attn\.proj\.weight$", QT.Q4_1),
    (r"^double_blocks\.0\.txt_attn\.proj\.weight$", QT.Q8_0),
    (r"^double_blocks\.0\.img_mlp\.0\.weight$", QT.Q4_0),
    (r"^double_blocks\.0\.img_mlp\.2\.weight$", QT.Q4_K),
    (r"^double_blocks\.0\.txt_mlp\.0\.weight$", QT.Q5_1),
    (r"^double_blocks\.0\.txt_mlp\.2\.weight$", QT.Q6_K),
    (r"^double_blocks\.\d+\.img_mod\.lin\.weight$", QT.F16),
    (r"^double_blocks\.\d+\.txt_mod\.lin\.weight$", QT.BF16),
    (r"^double_blocks\.\d+\.img_attn\.qkv\.weight$", QT.Q8_0),
    (r"^double_blocks\.\d+\.txt_attn\.qkv\.weight$", QT.Q4_1),
    (r"^double_blocks\.\d+\.img_attn\.proj\.weight$", QT.Q5_0),
    (r"^double_blocks\.\d+\.txt_attn\.proj\.weight$", QT.Q4_0),
    (r"^double_blocks\.\d+\.img_mlp\.0\.weight$", QT.Q8_0),
    (r"^double_blocks\.\d+\.img_mlp\.2\.weight$", QT.Q5_K),
    (r"^double_blocks\.\d+\.txt_mlp\.0\.weight$", QT.Q4_1),
    (r"^double_blocks\.\d+\.txt_mlp\.2\.weight$", QT.Q4_K),
    (r"^single_blocks\.0\.linear1\.weight$", QT.Q8_0),
    (r"^single_blocks\.0\.linear2\.weight$", QT.Q5_0),
    (r"^single_blocks\.0\.modulation\.lin\.weight$", QT.Q4_1),
    (r"^single_blocks\.\d+\.linear1\.weight$", QT.Q4_0),
    (r"^single_blocks\.\d+\.linear2\.weight$", QT.Q5_1),
    (r"^single_blocks\.\d+\.modulation\.lin\.weight$", QT.Q8_0),
]


def flux_tensor_type(name: str, t: torch.Tensor) -> QT:
    if t.dim() <= 1:
        return QT.F32  # biases, norm scales (city96: 1-D tensors become F32)
    for pat, qt in FLUX_TYPE_RULES:
        if re.match(pat, name):
            return qt
    return QT.F16


def write_flux_community_gguf(path: str, bfl_sd: Dict[str, torch.Tensor],
                              type_fn: Callable[[str, torch.Tensor], QT] = flux_tensor_type) -> Dict[str, str]:
    w = _no_kv_writer(path)
    types = {}
    for name in sorted(bfl_sd):
        t = bfl_sd[name]
        qt = type_fn(name, t)
        add_tensor(w, "model.diffusion_model." + name, t, qt)
        types[name] = qt.name
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return types


# ------------------------------------------------------------------------------------------------------------------
# Qwen2.5-VL text model as llama.cpp `qwen2vl`

QWEN_TYPE_RULES: List[Tuple[str, QT]] = [
    (r"^token_embd\.weight$", QT.F16),
    (r"^output\.weight$", QT.Q8_0),
    (r"^blk\.0\.attn_q\.weight$", QT.Q8_0),
    (r"^blk\.0\.attn_k\.weight$", QT.Q8_0),
    (r"^blk\.0\.attn_v\.weight$", QT.Q5_0),
    (r"^blk\.0\.attn_output\.weight$", QT.Q4_0),
    (r"^blk\.0\.ffn_gate\.weight$", QT.Q8_0),
    (r"^blk\.0\.ffn_up\.weight$", QT.Q4_1),
    (r"^blk\.0\.ffn_down\.weight$", QT.Q4_K),
    (r"^blk\.\d+\.attn_q\.weight$", QT.Q4_0),
    (r"^blk\.\d+\.attn_k\.weight$", QT.Q5_1),
    (r"^blk\.\d+\.attn_v\.weight$", QT.Q8_0),
    (r"^blk\.\d+\.attn_output\.weight$", QT.Q8_0),
    (r"^blk\.\d+\.ffn_gate\.weight$", QT.Q5_0),
    (r"^blk\.\d+\.ffn_up\.weight$", QT.Q8_0),
    (r"^blk\.\d+\.ffn_down\.weight$", QT.Q4_K),
]


def hf_qwen_to_llama_names(sd: Dict[str, torch.Tensor], num_layers: int) -> Dict[str, torch.Tensor]:
    """Released Qwen2.5-VL text keys -> llama.cpp qwen2vl names (no q/k permutation: NEOX-style rope)."""
    o = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"]}
    if "lm_head.weight" in sd:
        o["output.weight"] = sd["lm_head.weight"]
    m = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for i in range(num_layers):
        for src, dst in m.items():
            for part in ("weight", "bias"):
                k = f"model.layers.{i}.{src}.{part}"
                if k in sd:
                    o[f"blk.{i}.{dst}.{part}"] = sd[k]
    return o


def llama_to_hf_qwen_names(lsd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    inv = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
           "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
           "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    o = {}
    for k, v in lsd.items():
        if k == "token_embd.weight":
            o["model.embed_tokens.weight"] = v
        elif k == "output_norm.weight":
            o["model.norm.weight"] = v
        elif k == "output.weight":
            o["lm_head.weight"] = v
        else:
            _, i, name, part = k.split(".")
            o[f"model.layers.{i}.{inv[name]}.{part}"] = v
    return o


def qwen_tensor_type(name: str, t: torch.Tensor) -> QT:
    if t.dim() <= 1:
        return QT.F32
    for pat, qt in QWEN_TYPE_RULES:
        if re.match(pat, name):
            return qt
    return QT.F16


def write_qwen2vl_gguf(path: str, hf_sd: Dict[str, torch.Tensor], qcfg, tok_info: Dict,
                       name: str = "x2edit-tiny-qwen2.5-vl", type_fn=qwen_tensor_type) -> Dict[str, str]:
    """tok_info: tokens (list[str] in id order), token_types (list[int]), merges (list[str]), bos/eos/pad ids,
    chat_template (str)."""
    w = gguf.GGUFWriter(path, arch="qwen2vl")
    w.add_name(name)
    w.add_context_length(qcfg.max_position_embeddings)
    w.add_embedding_length(qcfg.hidden_size)
    w.add_block_count(qcfg.num_hidden_layers)
    w.add_feed_forward_length(qcfg.intermediate_size)
    w.add_head_count(qcfg.num_attention_heads)
    w.add_head_count_kv(qcfg.num_key_value_heads)
    w.add_rope_freq_base(qcfg.rope_theta)
    w.add_layer_norm_rms_eps(qcfg.rms_norm_eps)
    w.add_rope_dimension_sections(list(qcfg.mrope_section) + [0])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tok_info["tokens"])
    w.add_token_types(tok_info["token_types"])
    w.add_token_merges(tok_info["merges"])
    w.add_bos_token_id(tok_info["bos_id"])
    w.add_eos_token_id(tok_info["eos_id"])
    w.add_pad_token_id(tok_info["pad_id"])
    w.add_add_bos_token(False)
    w.add_chat_template(tok_info["chat_template"])
    lsd = hf_qwen_to_llama_names(hf_sd, qcfg.num_hidden_layers)
    types = {}
    for n in sorted(lsd, key=_llama_order):
        qt = type_fn(n, lsd[n])
        add_tensor(w, n, lsd[n], qt)
        types[n] = qt.name
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return types


def _llama_order(name: str):
    if name.startswith("blk."):
        _, i, rest = name.split(".", 2)
        return (1, int(i), rest)
    return (0 if name.startswith("token_embd") else 2, 0, name)
