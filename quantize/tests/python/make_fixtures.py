#!/usr/bin/env python3
"""Regenerates quantize/tests/fixtures/ with the `gguf` Python package (pin 0.19.0) and numpy.

The Rust tests compare our codecs and GGUF reader against these files, so they run without Python.
Deterministic: a fixed seed, so regenerating gives identical bytes for the same gguf/numpy versions.

    .venv/bin/python quantize/tests/python/make_fixtures.py

Files (all little-endian, raw):
  quant_input.f32            N blocks of 32 f32: random and adversarial inputs
  quant_<t>.bin              gguf.quants.quantize(input, <t>) for t in q8_0 q4_0 q4_1 q5_0 q5_1
  dequant_<t>.bin            random valid blocks of <t> (f16-subnormal scales among them)
  dequant_<t>.f32            gguf.quants.dequantize of those blocks
  all_metadata_types.gguf    GGUFWriter output with every metadata value type and a few tensors
  manifest.json              what was generated, with the gguf version
"""
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

OUT = Path(__file__).resolve().parent.parent / "fixtures"
rng = np.random.default_rng(20261128)


def quant_inputs() -> np.ndarray:
    blocks = []
    # Random blocks at several scales.
    for scale in [1.0, 0.02, 3.0, 1e-3, 250.0]:
        for _ in range(6):
            blocks.append(rng.standard_normal(32).astype(np.float32) * np.float32(scale))
    # Uniform and skewed (all positive / all negative) blocks.
    blocks.append(rng.uniform(0.5, 2.0, 32).astype(np.float32))
    blocks.append(-rng.uniform(0.5, 2.0, 32).astype(np.float32))
    # Zeros, constants.
    blocks.append(np.zeros(32, np.float32))
    blocks.append(np.full(32, 0.75, np.float32))
    blocks.append(np.full(32, -3.25, np.float32))
    # Huge and tiny magnitudes (kept where 1/d stays finite in f32).
    blocks.append((rng.standard_normal(32) * 1e30).astype(np.float32))
    blocks.append(np.linspace(-1e38, 1e38, 32).astype(np.float32))
    blocks.append((rng.standard_normal(32) * 1e-30).astype(np.float32))
    blocks.append((rng.standard_normal(32) * 1e-36).astype(np.float32))
    blocks.append(np.full(32, 65504.0 * 200, np.float32))  # d overflows f16
    # Ties at rounding boundaries: amax 127 (Q8_0 d = 1), halves everywhere.
    b = (np.arange(32, dtype=np.float32) - 16) + np.float32(0.5)
    b[0] = 127.0
    blocks.append(b)
    b = -b
    blocks.append(b)
    # Q4_0/Q5_0: max = -8 / -16 gives d = 1; x + 8.5 exactly integral.
    b = np.arange(32, dtype=np.float32) * np.float32(0.5) - np.float32(8.0)
    b[0] = -8.0
    blocks.append(b)
    b = np.arange(32, dtype=np.float32) - np.float32(16.5)
    b[0] = -16.0
    blocks.append(b)
    # Q4_1/Q5_1: min 0, max 15 / 31 gives d = 1; halves.
    b = np.arange(32, dtype=np.float32) * np.float32(15 / 31)
    b[0], b[31] = 0.0, 15.0
    blocks.append(b + np.float32(0.5) * (np.arange(32) % 2 == 0))
    b = np.arange(32, dtype=np.float32)
    b[-1] = 31.0
    blocks.append(b - np.float32(0.5) * (np.arange(32) % 3 == 0))
    # Equal magnitudes of both signs (first occurrence wins the signed max).
    b = rng.uniform(-1, 1, 32).astype(np.float32)
    b[3], b[20] = -2.0, 2.0
    blocks.append(b)
    b = b.copy()
    b[3], b[20] = 2.0, -2.0
    blocks.append(b)
    # f16 rounding ties of the scale: d = 2049/127 sits between f16 neighbours.
    b = rng.uniform(-1, 1, 32).astype(np.float32)
    b[7] = np.float32(2049.0)
    blocks.append(b)
    return np.stack(blocks).astype(np.float32)


def random_f16(n: int) -> np.ndarray:
    """Scales: normal values, subnormals, zero and negatives; never inf or NaN."""
    kinds = rng.integers(0, 4, n)
    normal = (rng.uniform(1e-4, 2.0, n) * rng.choice([-1, 1], n)).astype(np.float16).view(np.uint16)
    sub = rng.integers(1, 0x400, n).astype(np.uint16) | (rng.integers(0, 2, n).astype(np.uint16) << 15)
    out = np.where(kinds == 0, sub, normal)
    out = np.where(kinds == 3, np.uint16(0), out)
    out[0] = 0x0001  # smallest subnormal
    out[1] = 0x03FF  # largest subnormal
    return out.astype(np.uint16)


# Byte offsets of the f16 fields in each block type (everything else is random bytes).
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(qtype: T, n_blocks: int) -> np.ndarray:
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        raw[:, off:off + 2] = random_f16(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw


def write(name: str, arr: np.ndarray) -> None:
    (OUT / name).write_bytes(np.ascontiguousarray(arr).tobytes())


def make_codec_fixtures(manifest: dict) -> None:
    x = quant_inputs()
    write("quant_input.f32", x)
    manifest["quant_input_blocks"] = int(x.shape[0])
    for t in [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]:
        with np.errstate(all="ignore"):
            q = gguf.quants.quantize(x, t)
        write(f"quant_{t.name.lower()}.bin", q)
    deq = {}
    for t in F16_FIELDS:
        n = 16 if t in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K) else 64
        blocks = random_blocks(t, n)
        y = gguf.quants.dequantize(blocks, t)
        write(f"dequant_{t.name.lower()}.bin", blocks)
        write(f"dequant_{t.name.lower()}.f32", y.astype(np.float32))
        deq[t.name.lower()] = n
    # Plain types: all f16/bf16 bit patterns except NaN, in a shuffled sample.
    bits = rng.permutation(np.arange(65536, dtype=np.uint32))[:4096].astype(np.uint16)
    f16 = bits[~(((bits & 0x7C00) == 0x7C00) & ((bits & 0x03FF) != 0))]
    write("dequant_f16.bin", f16)
    write("dequant_f16.f32", gguf.quants.dequantize(f16.view(np.uint8), T.F16).astype(np.float32))
    bf = bits[~(((bits & 0x7F80) == 0x7F80) & ((bits & 0x007F) != 0))]
    write("dequant_bf16.bin", bf)
    write("dequant_bf16.f32", gguf.quants.dequantize(bf.view(np.uint8), T.BF16).astype(np.float32))
    # bf16 quantization (round to nearest even, NaN quiet) on the same inputs.
    write("quant_bf16.bin", gguf.quants.quantize(x, T.BF16))
    manifest["dequant_blocks"] = deq


def make_gguf_fixture(manifest: dict) -> None:
    path = OUT / "all_metadata_types.gguf"
    w = gguf.GGUFWriter(str(path), arch="testarch")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 3.5)
    w.add_uint64("t.u64", 18000000000000000000)
    w.add_int64("t.i64", -9000000000000000000)
    w.add_float64("t.f64", -2.25)
    w.add_bool("t.bool", True)
    w.add_string("t.string", "héllo wörld")
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_str", ["a", "bc", ""])
    w.add_array("t.arr_f32", [0.5, -1.0])
    w.add_array("t.arr_bool", [True, False, True])
    w.add_key_value("t.arr_u64", [1, 2, 2**63], V.ARRAY, sub_type=V.UINT64)
    w.add_key_value("t.arr_u8", [0, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_array("t.arr_nested", [[1, 2], [3]])
    a = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) - 5
    w.add_tensor("plain_f32", a)
    w.add_tensor("plain_f16", (a[0] * 0.5).astype(np.float16))
    r = rng.standard_normal((3, 64)).astype(np.float32)
    w.add_tensor("quant_q8_0", gguf.quants.quantize(r, T.Q8_0), raw_dtype=T.Q8_0)
    kb = random_blocks(T.Q4_K, 2)
    w.add_tensor("quant_q4_k", kb, raw_dtype=T.Q4_K)
    w.add_tensor("scalar_like", np.array([7.0], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write("gguf_expect_plain_f32.f32", a)
    write("gguf_expect_quant_q8_0.f32", gguf.quants.dequantize(gguf.quants.quantize(r, T.Q8_0), T.Q8_0))
    write("gguf_expect_quant_q4_k.f32", gguf.quants.dequantize(kb, T.Q4_K))


def make_torch_fixtures(manifest: dict) -> None:
    """PyTorch-zip state dicts (written without torch, see torchzip.py) and their expected values."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torchzip as tz
    a = (np.arange(12, dtype=np.float32) * 0.25 - 1).reshape(3, 4)
    h = (np.arange(6, dtype=np.float32) / 3).astype(np.float16).reshape(2, 3)
    bf = (np.arange(8, dtype=np.float32) - 3.5).view(np.uint32) >> 16
    bf = bf.astype(np.uint16)
    base = tz.Storage("3", "FloatStorage", np.arange(20, dtype=np.float32))
    sd = tz.state_dict([
        ("a", tz.contiguous("0", "FloatStorage", a)),
        ("half", tz.contiguous("1", "HalfStorage", h)),
        ("bf16", tz.contiguous("2", "BFloat16Storage", bf)),
        # A transposed (non-contiguous) view: shape [4, 3] of a [3, 4] storage.
        ("transposed", tz.Tensor(base, 0, (4, 3), (1, 4))),
        # Two views into one storage at different offsets.
        ("view_offset", tz.Tensor(base, 12, (2, 4), (4, 1))),
        ("param", tz.contiguous("4", "FloatStorage", np.array([1.5, -2.5], np.float32), parameter=True)),
        ("nested", {"inner": tz.contiguous("5", "LongStorage", np.array([7, -8], np.int64))}),
        ("step", 1000),
    ])
    tz.save(OUT / "state_dict.bin", sd)
    expect = {
        "a": a.ravel().tolist(), "half": h.astype(np.float32).ravel().tolist(),
        "bf16": ((bf.astype(np.uint32) << 16).view(np.float32)).tolist(),
        "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T.ravel().tolist(),
        "view_offset": list(range(12, 20)), "param": [1.5, -2.5], "nested.inner": [7, -8],
    }
    (OUT / "state_dict.expected.json").write_text(json.dumps(expect) + "\n")
    manifest["torch_zip"] = sorted(expect)


def write_safetensors(path: Path, tensors: dict, metadata: dict | None = None) -> None:
    """The safetensors format by hand (the package is not needed): u64 header length, JSON, data."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, arr) in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16(a: np.ndarray) -> np.ndarray:
    return (a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


def make_adapter_fixture(manifest: dict) -> None:
    """A tiny X2Edit release folder: hidden 32, rank 4, 3 experts + shared, 1 double + 1 single block."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torchzip as tz
    d = OUT / "adapter"
    d.mkdir(exist_ok=True)
    hidden, rank, experts = 32, 4, 3
    lora = {}
    for prefix, projs in [("transformer_blocks.0", "qkvp"), ("single_transformer_blocks.0", "qkv")]:
        for p in projs:
            m = f"{prefix}.attn.processor.{'proj' if p == 'p' else p}_moe_lora"
            for e in [f"experts.{i}" for i in range(experts)] + ["shared_experts"]:
                lora[f"{m}.{e}.down.weight"] = ("BF16", bf16(rng.standard_normal((rank, hidden)) * 0.1))
                lora[f"{m}.{e}.up.weight"] = ("BF16", bf16(rng.standard_normal((hidden, rank)) * 0.1))
            lora[f"{m}.gate.weight"] = ("BF16", bf16(rng.standard_normal((experts, 2 * hidden)) * 0.1))
    write_safetensors(d / "lora.safetensors", lora)
    emb = rng.standard_normal((16, hidden)).astype(np.float32)
    tz.save(d / "task_embeddings.bin", tz.state_dict([("weight", tz.contiguous("0", "FloatStorage", emb))]), archive="task_embeddings")
    shapes = {"conv.weight": (1, 29, 5, 5), "conv.bias": (1,), "mlp.layernorm.weight": (16,), "mlp.layernorm.bias": (16,),
              "mlp.projector.0.weight": (24, 16), "mlp.projector.2.weight": (24, 24), "mlp.fc.1.weight": (8, 24), "mlp.fc.1.bias": (8,)}
    items = [(f"module.{k}", tz.contiguous(str(i), "FloatStorage", rng.standard_normal(s).astype(np.float32))) for i, (k, s) in enumerate(shapes.items())]
    tz.save(d / "diffusion_pytorch_model.bin", tz.state_dict(items), archive="diffusion_pytorch_model")
    manifest["adapter"] = {"hidden": hidden, "rank": rank, "experts": experts}


def make_qwen_fixture(manifest: dict) -> None:
    """A tiny Hugging Face Qwen2.5-VL folder: hidden 16, 2 layers, 2 heads (1 KV), vocab 40."""
    d = OUT / "qwen"
    d.mkdir(exist_ok=True)
    cfg = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 16,
           "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 32,
           "vocab_size": 40, "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
           "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]}, "bos_token_id": 30, "eos_token_id": 31}
    (d / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    t = {"model.embed_tokens.weight": (40, 16), "model.norm.weight": (16,), "lm_head.weight": (40, 16), "visual.patch_embed.proj.weight": (4, 3)}
    for i in range(2):
        p = f"model.layers.{i}"
        t.update({f"{p}.input_layernorm.weight": (16,), f"{p}.post_attention_layernorm.weight": (16,),
                  f"{p}.self_attn.q_proj.weight": (16, 16), f"{p}.self_attn.q_proj.bias": (16,),
                  f"{p}.self_attn.k_proj.weight": (8, 16), f"{p}.self_attn.k_proj.bias": (8,),
                  f"{p}.self_attn.v_proj.weight": (8, 16), f"{p}.self_attn.v_proj.bias": (8,),
                  f"{p}.self_attn.o_proj.weight": (16, 16), f"{p}.mlp.gate_proj.weight": (32, 16),
                  f"{p}.mlp.up_proj.weight": (32, 16), f"{p}.mlp.down_proj.weight": (16, 32)})
    write_safetensors(d / "model.safetensors", {k: ("F32", rng.standard_normal(s).astype(np.float32)) for k, s in t.items()}, {"format": "pt"})
    letters = [chr(ord("a") + i) for i in range(26)] + ["ab", "abc", "Ġ", "Ġa"]
    tok = {"version": "1.0", "added_tokens": [
        {"id": 30, "content": "<|endoftext|>", "special": True}, {"id": 31, "content": "<|im_end|>", "special": True},
        {"id": 32, "content": "<|im_start|>", "special": True}, {"id": 33, "content": "<tool>", "special": False}],
        "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(letters)}, "merges": ["a b", ["ab", "c"], "Ġ a"]}}
    (d / "tokenizer.json").write_text(json.dumps(tok) + "\n")
    tc = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None, "add_bos_token": False,
          "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\\n{{ m['content'] }}<|im_end|>\\n{% endfor %}"}
    (d / "tokenizer_config.json").write_text(json.dumps(tc) + "\n")
    manifest["qwen"] = {"vocab_size": 40}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"gguf_version": getattr(gguf, "__version__", None) or _pkg_version(), "numpy_version": np.__version__}
    make_codec_fixtures(manifest)
    make_gguf_fixture(manifest)
    make_torch_fixtures(manifest)
    make_adapter_fixture(manifest)
    make_qwen_fixture(manifest)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {total} bytes of fixtures into {OUT}", file=sys.stderr)


def _pkg_version() -> str:
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    main()
