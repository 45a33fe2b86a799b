"""GGUF files written by our x2edit-quantize read back in gguf-py (GGUFReader) with the right names,
shapes, types, metadata and values; simple-type quantizations are byte-identical to gguf-py's.

    X2EDIT_QUANTIZE=target/release/x2edit-quantize .venv/bin/python -m pytest quantize/tests/python -q
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FIXTURES = HERE.parent / "fixtures"
sys.path.insert(0, str(HERE))
from make_fixtures import write_safetensors  # noqa: E402


def tool() -> str:
    p = Path(os.environ.get("X2EDIT_QUANTIZE", ROOT / "target" / "release" / "x2edit-quantize"))
    if not p.is_absolute():
        p = ROOT / p
    assert p.is_file(), f"{p} not built: cargo build --release -p x2edit-quantize (or set X2EDIT_QUANTIZE)"
    return str(p)


def convert(src: Path, out: Path, *args: str) -> str:
    r = subprocess.run([tool(), "convert", *args, str(src), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def field(reader: GGUFReader, key: str):
    f = reader.fields[key]
    return f.contents()


def tiny_flux(hidden: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    mlp, hd = 4 * hidden, 16
    shapes = {"x_embedder.weight": (hidden, 8), "x_embedder.bias": (hidden,), "context_embedder.weight": (hidden, 12),
              "context_embedder.bias": (hidden,), "proj_out.weight": (8, hidden), "proj_out.bias": (8,),
              "norm_out.linear.weight": (2 * hidden, hidden), "norm_out.linear.bias": (2 * hidden,)}
    for e, i in [("timestep_embedder", 256), ("text_embedder", 6)]:
        shapes[f"time_text_embed.{e}.linear_1.weight"] = (hidden, i)
        shapes[f"time_text_embed.{e}.linear_1.bias"] = (hidden,)
        shapes[f"time_text_embed.{e}.linear_2.weight"] = (hidden, hidden)
        shapes[f"time_text_embed.{e}.linear_2.bias"] = (hidden,)
    b = "transformer_blocks.0"
    for m, o, i in [("norm1.linear", 6 * hidden, hidden), ("norm1_context.linear", 6 * hidden, hidden),
                    ("attn.to_q", hidden, hidden), ("attn.to_k", hidden, hidden), ("attn.to_v", hidden, hidden),
                    ("attn.add_q_proj", hidden, hidden), ("attn.add_k_proj", hidden, hidden), ("attn.add_v_proj", hidden, hidden),
                    ("attn.to_out.0", hidden, hidden), ("attn.to_add_out", hidden, hidden), ("ff.net.0.proj", mlp, hidden),
                    ("ff.net.2", hidden, mlp), ("ff_context.net.0.proj", mlp, hidden), ("ff_context.net.2", hidden, mlp)]:
        shapes[f"{b}.{m}.weight"] = (o, i)
        shapes[f"{b}.{m}.bias"] = (o,)
    for n in ["norm_q", "norm_k", "norm_added_q", "norm_added_k"]:
        shapes[f"{b}.attn.{n}.weight"] = (hd,)
    s = "single_transformer_blocks.0"
    for m, o, i in [("norm.linear", 3 * hidden, hidden), ("attn.to_q", hidden, hidden), ("attn.to_k", hidden, hidden),
                    ("attn.to_v", hidden, hidden), ("proj_mlp", mlp, hidden), ("proj_out", hidden, hidden + mlp)]:
        shapes[f"{s}.{m}.weight"] = (o, i)
        shapes[f"{s}.{m}.bias"] = (o,)
    for n in ["norm_q", "norm_k"]:
        shapes[f"{s}.attn.{n}.weight"] = (hd,)
    return {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}


@pytest.fixture(scope="module")
def flux_folder(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("flux") / "transformer"
    d.mkdir()
    ts = tiny_flux()
    write_safetensors(d / "diffusion_pytorch_model.safetensors", {k: ("F32", v) for k, v in ts.items()})
    (d / "config.json").write_text(json.dumps({"attention_head_dim": 16, "num_attention_heads": 4, "axes_dims_rope": [4, 6, 6],
                                               "num_layers": 1, "num_single_layers": 1, "guidance_embeds": False}))
    return d, ts


def bfl_expected(ts: dict) -> dict[str, np.ndarray]:
    """The BFL tensors, computed here independently of our name map."""
    b, s = "transformer_blocks.0", "single_transformer_blocks.0"
    out = {
        "img_in.weight": ts["x_embedder.weight"],
        "double_blocks.0.img_attn.qkv.weight": np.concatenate([ts[f"{b}.attn.to_{x}.weight"] for x in "qkv"]),
        "double_blocks.0.txt_attn.qkv.bias": np.concatenate([ts[f"{b}.attn.add_{x}_proj.bias"] for x in "qkv"]),
        "double_blocks.0.img_mlp.2.weight": ts[f"{b}.ff.net.2.weight"],
        "single_blocks.0.linear1.weight": np.concatenate([ts[f"{s}.attn.to_{x}.weight"] for x in "qkv"] + [ts[f"{s}.proj_mlp.weight"]]),
        "single_blocks.0.linear2.weight": ts[f"{s}.proj_out.weight"],
        "double_blocks.0.img_attn.norm.query_norm.scale": ts[f"{b}.attn.norm_q.weight"],
    }
    w = ts["norm_out.linear.weight"]
    out["final_layer.adaLN_modulation.1.weight"] = np.concatenate([w[w.shape[0] // 2:], w[: w.shape[0] // 2]])
    return out


def test_flux_f32_reads_back_exactly(flux_folder, tmp_path):
    src, ts = flux_folder
    out = tmp_path / "flux.gguf"
    convert(src, out, "--type", "f32")
    r = GGUFReader(out)
    assert field(r, "general.architecture") == "flux"
    assert field(r, "flux.depth") == 1 and field(r, "flux.depth_single") == 1
    assert field(r, "flux.num_heads") == 4
    assert list(field(r, "flux.axes_dims_rope")) == [4, 6, 6]
    assert field(r, "general.quantization_version") == 2
    tensors = {t.name: t for t in r.tensors}
    assert len(tensors) == len(ts) - 14  # q|k|v (x2) and q|k|v|mlp fused, weights and biases
    for name, want in bfl_expected(ts).items():
        t = tensors[name]
        assert t.tensor_type == T.F32, name
        assert tuple(int(x) for x in t.shape[::-1]) == want.shape, name  # gguf-py shapes are ne order
        np.testing.assert_array_equal(np.asarray(t.data).reshape(want.shape), want, err_msg=name)


@pytest.mark.parametrize("qtype", ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1"])
def test_simple_quants_are_byte_identical_to_gguf_py(flux_folder, tmp_path, qtype):
    src, ts = flux_folder
    out = tmp_path / f"{qtype}.gguf"
    table = convert(src, out, "--type", qtype)
    assert "bits per weight" in table
    r = GGUFReader(out)
    tensors = {t.name: t for t in r.tensors}
    want_t = T[qtype.upper()]
    assert field(r, "general.file_type") == {"q8_0": 7, "q4_0": 2, "q4_1": 3, "q5_0": 8, "q5_1": 9}[qtype]
    exp = bfl_expected(ts)
    for name in ["double_blocks.0.img_attn.qkv.weight", "single_blocks.0.linear1.weight", "single_blocks.0.linear2.weight", "double_blocks.0.img_mlp.2.weight"]:
        t = tensors[name]
        assert t.tensor_type == want_t, name
        ours = np.asarray(t.data).view(np.uint8).reshape(-1)
        theirs = gguf.quants.quantize(exp[name], want_t).reshape(-1)
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
        deq = gguf.quants.dequantize(np.asarray(t.data), want_t).reshape(exp[name].shape)
        assert np.abs(deq - exp[name]).max() < 0.6, name
    # Kept at full precision by the default rules.
    assert tensors["img_in.weight"].tensor_type == T.F32
    assert tensors["final_layer.adaLN_modulation.1.weight"].tensor_type == T.F32
    assert tensors["double_blocks.0.img_attn.qkv.bias"].tensor_type == T.F32


@pytest.mark.parametrize("qtype", ["q4_k", "q5_k", "q6_k", "f16", "bf16"])
def test_other_types_dequantize_in_gguf_py(flux_folder, tmp_path, qtype):
    src, ts = flux_folder
    out = tmp_path / f"{qtype}.gguf"
    convert(src, out, "--type", qtype)
    r = GGUFReader(out)
    tensors = {t.name: t for t in r.tensors}
    exp = bfl_expected(ts)["double_blocks.0.img_mlp.2.weight"]  # rows of 256: every type applies
    t = tensors["double_blocks.0.img_mlp.2.weight"]
    assert t.tensor_type == T[qtype.upper()]
    deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(exp.shape)
    rel = np.sqrt(np.mean((deq - exp) ** 2) / np.mean(exp ** 2))
    assert rel < {"q4_k": 0.12, "q5_k": 0.06, "q6_k": 0.03, "f16": 1e-3, "bf16": 1e-2}[qtype], rel
    # 64-wide rows cannot hold a 256-element super-block: f16 fallback.
    if qtype.endswith("_k"):
        assert tensors["double_blocks.0.img_attn.qkv.weight"].tensor_type == T.F16


def test_gguf_py_metadata_of_every_type_survives_our_tool(tmp_path):
    out = tmp_path / "copy.gguf"
    convert(FIXTURES / "all_metadata_types.gguf", out)
    a, b = GGUFReader(FIXTURES / "all_metadata_types.gguf"), GGUFReader(out)
    for key, f in a.fields.items():
        if key.startswith("GGUF.") or key in ("general.file_type", "general.quantization_version"):
            continue
        g = b.fields[key]
        assert g.types == f.types, key
        if key == "t.arr_nested":
            continue  # gguf-py's contents() cannot read nested arrays; the Rust test checks them
        assert g.contents() == f.contents(), key
    ta = {t.name: t for t in a.tensors}
    for t in b.tensors:
        assert t.tensor_type == ta[t.name].tensor_type
        np.testing.assert_array_equal(np.asarray(t.data), np.asarray(ta[t.name].data))


def test_qwen_gguf_has_llama_cpp_names_and_tokenizer(tmp_path):
    out = tmp_path / "qwen.gguf"
    convert(FIXTURES / "qwen", out, "--type", "f16")
    r = GGUFReader(out)
    assert field(r, "general.architecture") == "qwen2vl"
    assert field(r, "qwen2vl.block_count") == 2
    assert list(field(r, "qwen2vl.rope.dimension_sections")) == [2, 1, 1, 0]
    toks = field(r, "tokenizer.ggml.tokens")
    assert len(toks) == 40 and toks[31] == "<|im_end|>" and toks[39] == "[PAD39]"
    assert field(r, "tokenizer.ggml.merges") == ["a b", "ab c", "Ġ a"]
    names = {t.name for t in r.tensors}
    assert {"token_embd.weight", "output.weight", "blk.0.attn_q.bias", "blk.1.ffn_gate.weight"} <= names
    emb = next(t for t in r.tensors if t.name == "token_embd.weight")
    assert tuple(int(x) for x in emb.shape[::-1]) == (40, 16)
