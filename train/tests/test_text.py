"""Text path == transformers' Qwen2.5-VL forward (output_hidden_states): real-token rows on any device, pad rows
once the CUDA un-masking is applied; tokenizer / chat template / AutoProcessor; route prompt."""
import os

import pytest
import torch

from train.common import rel_l2
from train.models import load_text_state_dict
from train.text import (attention_bias, greedy_generate, hf_generate_hidden_states, hf_hidden_states,
                        left_pad_position_ids, load_hf_text_model, load_tokenizer, qwen_text_forward, render_chat,
                        route_inputs, route_prompt, tokenize, x2edit_text)


@pytest.fixture(scope="module")
def te(models_dir):
    d = os.path.join(models_dir, "text_encoder")
    return load_tokenizer(d), load_hf_text_model(d), load_text_state_dict(models_dir)


@pytest.fixture(scope="module")
def batch(te):
    tok = te[0]
    a = tokenize(tok, "Change the color of the car to red.", "x2edit")
    b = tokenize(tok, "把背景换成雪山。", "raw")
    return torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])


def test_hidden_states_equal_transformers(te, batch, tiny_cfg):
    tok, hf, sd = te
    ids, mask = batch
    ours = qwen_text_forward(sd, tiny_cfg.qwen, ids, mask)
    assert ours.shape == (2, tiny_cfg.qwen.num_hidden_layers + 1, 512, tiny_cfg.qwen.hidden_size)
    # pad rows included, with transformers' CUDA behaviour (_unmask_unattended) applied on this device
    assert rel_l2(ours, hf_hidden_states(hf, ids, mask, cuda_unmask=True)) < 1e-5
    # every real-token row equals transformers' own forward here, whatever it does with pad rows
    plain = hf_hidden_states(hf, ids, mask, cuda_unmask=False)
    for b in range(2):
        real = mask[b].bool()
        assert rel_l2(ours[b][:, real], plain[b][:, real]) < 1e-5
    # and X2Edit's exact call: generate(max_new_tokens=1, output_hidden_states=True).hidden_states[0]
    gen = hf_generate_hidden_states(hf, ids[:1], mask[:1])
    real = mask[0].bool()
    assert rel_l2(ours[:1][:, :, real], gen[:, :, real]) < 1e-5
    if not torch.cuda.is_available():
        # on the CPU transformers leaves pad rows fully masked: they differ from X2Edit's CUDA run
        assert rel_l2(ours[0][:, ~real], plain[0][:, ~real]) > 1e-3


def test_position_ids_and_mask():
    mask = torch.tensor([[0, 0, 1, 1, 1]])
    assert left_pad_position_ids(mask).tolist() == [[1, 1, 0, 1, 2]]
    bias = attention_bias(mask)[0, 0]
    assert (bias[0] == 0).all() and (bias[1] == 0).all()  # pad rows attend to all keys
    assert bias[2, :2].min() < -1e30 and bias[2, 2] == 0 and bias[2, 3] < -1e30  # causal + padding


def test_tokenizer_and_chat_template(te, models_dir):
    tok = te[0]
    chat = render_chat(tok, "Add a hat.", "x2edit")
    assert chat == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                    "{'Text input': '', 'Instruction editing description': 'Add a hat.', 'image input': 'yes'}"
                    "<|im_end|>\n<|im_start|>assistant\n")
    assert x2edit_text("a") == "{'Text input': '', 'Instruction editing description': 'a', 'image input': 'yes'}"
    assert render_chat(tok, "Add a hat.", "raw").count("Add a hat.") == 1
    ids, mask = tokenize(tok, "Add a hat.", "x2edit")
    assert ids.shape == (1, 512) and ids.dtype == torch.int64
    n = int(mask.sum())
    assert (mask[0, :512 - n] == 0).all() and (ids[0, :512 - n] == tok.pad_token_id).all()
    assert tok.decode(ids[0, 512 - n:]) == chat
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    # the processor X2Edit uses (AutoProcessor, left padding) gives the same ids for text-only input
    from transformers import AutoProcessor
    proc = AutoProcessor.from_pretrained(os.path.join(models_dir, "text_encoder"), padding_side="left", use_fast=False)
    enc = proc(text=[chat], images=None, videos=None, padding="max_length", max_length=512, truncation=True,
               return_tensors="pt")
    assert torch.equal(enc["input_ids"], ids) and torch.equal(enc["attention_mask"], mask)


def test_route_prompt_and_greedy(te, tiny_cfg):
    tok, hf, sd = te
    p = route_prompt("X")
    assert p.startswith("\n        我现在输入一个图片编辑指令:X，总共15个类别:['删除主体', '添加主体'")
    assert "不需要中间结果; \n" in p and "images； \n" in p and p.endswith("A sticker of this object。\n    ")
    chat, ids, mask = route_inputs(tok, "Remove the dog.")
    eos = [tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id]
    out = hf.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=4, eos_token_id=eos,
                      pad_token_id=eos[1], temperature=None, top_p=None, top_k=None)
    assert torch.equal(out[:, ids.shape[1]:], greedy_generate(sd, tiny_cfg.qwen, ids, 4, eos))
