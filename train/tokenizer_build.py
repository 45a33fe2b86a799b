"""Train the tiny Qwen2-style byte-level BPE tokenizer with HF `tokenizers`.

Same pipeline as Qwen2 / Qwen2.5-VL's tokenizer.json (transformers' Qwen2Converter): NFC normalizer, Split on Qwen2's
pre-tokenizer regex (behaviour isolated) followed by ByteLevel(add_prefix_space=False, use_regex=False),
ByteLevel post-processor (trim_offsets=False) and decoder, BPE without unk/byte-fallback. Only the vocabulary and
merges are small (trained on train/data/tokenizer_corpus.txt). The 22 Qwen2.5-VL added special tokens follow the
learned vocabulary in Qwen's order (<|endoftext|> first = pad and bos, <|im_end|> = eos).
"""
from __future__ import annotations

import json
import os
from typing import Dict, List

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "data", "tokenizer_corpus.txt")

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")

SPECIAL_TOKENS: List[str] = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]
# tokens listed as additional_special_tokens in Qwen2.5-VL's tokenizer_config.json
ADDITIONAL_SPECIAL = ["<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
                      "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
                      "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]

# Qwen2-VL / Qwen2.5-VL chat template (chat_template.json of the released processor).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

VOCAB_SIZE = 800  # learned byte-level vocabulary (before the 22 special tokens)


def train_tokenizer(vocab_size: int = VOCAB_SIZE, lines: List[str] | None = None) -> Tokenizer:
    """lines: the training corpus (default: train/data/tokenizer_corpus.txt)."""
    tok = Tokenizer(models.BPE(dropout=None, unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    if lines is None:
        with open(CORPUS, encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
    tok.train_from_iterator(lines, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return tok


def tokenizer_config(tok: Tokenizer) -> Dict:
    added = {}
    for t in SPECIAL_TOKENS:
        added[str(tok.token_to_id(t))] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True}
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": ADDITIONAL_SPECIAL,
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


PREPROCESSOR_CONFIG = {
    "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
}


def write_tokenizer_files(tok: Tokenizer, out_dir: str):
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"), pretty=True)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config(tok), f, indent=2, ensure_ascii=False)
        f.write("\n")
    data = json.loads(tok.to_str())  # vocab.json + merges.txt as in the released repos (slow Qwen2Tokenizer)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(data["model"]["vocab"], f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in data["model"]["merges"]:
            f.write((" ".join(m) if isinstance(m, list) else m) + "\n")
    with open(os.path.join(out_dir, "chat_template.json"), "w", encoding="utf-8") as f:
        json.dump({"chat_template": CHAT_TEMPLATE}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w", encoding="utf-8") as f:
        json.dump(PREPROCESSOR_CONFIG, f, indent=2)
        f.write("\n")


def gguf_tokenizer_info(tok: Tokenizer) -> Dict:
    """tokenizer.ggml.* values as llama.cpp's convert_hf_to_gguf writes them for Qwen2 (gpt2 model, qwen2 pre)."""
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    merges = data["model"]["merges"]
    merges = [" ".join(m) if isinstance(m, list) else m for m in merges]
    n = tok.get_vocab_size(with_added_tokens=True)
    inv = {i: t for t, i in vocab.items()}
    special = {tok.token_to_id(t): t for t in SPECIAL_TOKENS}
    tokens, types = [], []
    for i in range(n):
        if i in special:
            tokens.append(special[i])
            types.append(3)  # CONTROL
        else:
            tokens.append(inv[i])
            types.append(1)  # NORMAL
    return {"tokens": tokens, "token_types": types, "merges": merges,
            "bos_id": tok.token_to_id("<|endoftext|>"), "eos_id": tok.token_to_id("<|im_end|>"),
            "pad_id": tok.token_to_id("<|endoftext|>"), "chat_template": CHAT_TEMPLATE}
