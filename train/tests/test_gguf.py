"""GGUF files: community FLUX conventions, llama.cpp qwen2vl conventions, valid K-quant blocks."""
import os

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as QT
from safetensors.torch import load_file

from train.gguf_io import encode, hf_qwen_to_llama_names, llama_to_hf_qwen_names, read_dequantized


@pytest.mark.parametrize("qt", [QT.Q4_K, QT.Q5_K, QT.Q6_K])
def test_k_quant_blocks_are_valid(qt):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((8, 512)) * rng.uniform(0.01, 3, (8, 1))).astype(np.float32)
    x[0] = np.abs(x[0])
    x[1, :256] = 0.0
    enc = encode(x, qt)
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    assert enc.shape == (8, 512 // bs * ts)
    dec = gguf.quants.dequantize(enc, qt)
    err = np.linalg.norm(dec - x, axis=1) / np.maximum(np.linalg.norm(x, axis=1), 1e-12)
    assert err.max() < {QT.Q4_K: 0.15, QT.Q5_K: 0.08, QT.Q6_K: 0.04}[qt]
    assert np.all(dec[1, :256] == 0)


def test_community_flux_gguf(models_dir):
    path = os.path.join(models_dir, "flux-community.gguf")
    r = gguf.GGUFReader(path)
    assert [k for k in r.fields if not k.startswith("GGUF.")] == []  # no KV at all
    names = [t.name for t in r.tensors]
    assert all(n.startswith("model.diffusion_model.") for n in names)
    types = {t.tensor_type.name for t in r.tensors}
    for need in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"):
        assert need in types, need
    for t in r.tensors:
        if len(t.shape) == 1:
            assert t.tensor_type == QT.F32
    deq, _ = read_dequantized(path)
    ref = load_file(os.path.join(models_dir, "transformer-bfl.safetensors"))
    assert {k[len("model.diffusion_model."):] for k in deq} == set(ref)
    for k, v in deq.items():
        r_ = ref[k[len("model.diffusion_model."):]].float()
        assert v.shape == r_.shape
        assert float((v - r_).norm() / r_.norm()) < 0.12, k


def test_qwen2vl_gguf(models_dir):
    path = os.path.join(models_dir, "qwen2vl.gguf")
    r = gguf.GGUFReader(path)
    f = r.fields
    s = lambda k: bytes(f[k].parts[f[k].data[0]]).decode()
    v = lambda k: f[k].parts[f[k].data[0]][0]
    assert s("general.architecture") == "qwen2vl"
    assert s("tokenizer.ggml.model") == "gpt2" and s("tokenizer.ggml.pre") == "qwen2"
    assert [int(f["qwen2vl.rope.dimension_sections"].parts[i][0]) for i in f["qwen2vl.rope.dimension_sections"].data] == [2, 3, 3, 0]
    assert int(v("qwen2vl.attention.head_count_kv")) == 2 and int(v("qwen2vl.block_count")) == 2
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(models_dir, "text_encoder", "tokenizer.json"))
    tokens = [bytes(f["tokenizer.ggml.tokens"].parts[i]).decode() for i in f["tokenizer.ggml.tokens"].data]
    assert tokens == [tok.id_to_token(i) for i in range(tok.get_vocab_size())]
    assert int(v("tokenizer.ggml.eos_token_id")) == tok.token_to_id("<|im_end|>")
    assert int(v("tokenizer.ggml.padding_token_id")) == tok.token_to_id("<|endoftext|>")
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert types["token_embd.weight"] == "F16" and "Q4_K" in types.values() and "Q8_0" in types.values()
    deq, _ = read_dequantized(path)
    hf = load_file(os.path.join(models_dir, "text_encoder", "model.safetensors"))
    back = llama_to_hf_qwen_names(deq)
    assert set(back) == {k for k in hf if not k.startswith("visual.")}
    assert set(hf_qwen_to_llama_names(hf, 2)) == set(deq)
