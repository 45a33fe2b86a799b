#!/usr/bin/env python3
"""Regenerates quantize/tests/corpus/: hostile and broken files, each with the FormatError variant
the Rust replay test (tests/hostile.rs) expects. Pure Python + numpy.

    .venv/bin/python quantize/tests/python/make_corpus.py
"""
import io
import json
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torchzip as tz  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "corpus"
expected: list[tuple[str, str]] = []


def put(rel: str, data: bytes, variant: str) -> None:
    p = OUT / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    expected.append((rel, variant))


# ------------------------------------------------------------------ GGUF
def s(x: str | bytes) -> bytes:
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    return s(key) + struct.pack("<I", vtype) + payload


def tinfo(name: str, ne: list[int], ty: int, off: int) -> bytes:
    return s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne) + struct.pack("<II", ty, 0)[:4] + struct.pack("<Q", off)


def gguf(kvs: list[bytes], tensors: list[bytes], data: bytes = b"", version: int = 3, n_t=None, n_kv=None, align=32) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_t is None else n_t, len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(tensors)
    pad = (-len(head)) % align
    return head + b"\0" * pad + data


good_t = tinfo("w", [4, 2], 0, 0)
put("gguf/empty.gguf", b"", "Truncated")
put("gguf/bad_magic.gguf", b"GGUX" + b"\0" * 40, "BadMagic")
put("gguf/version_99.gguf", gguf([], [], version=99), "UnsupportedVersion")
put("gguf/truncated_header.gguf", gguf([kv("a", 8, s("hello"))], [good_t], b"\0" * 32)[:30], "Truncated")
put("gguf/truncated_data.gguf", gguf([], [good_t], b"\0" * 16), "OutOfBounds")
put("gguf/huge_kv_count.gguf", gguf([], [], n_kv=2**62), "Truncated")
put("gguf/huge_tensor_count.gguf", gguf([], [], n_t=2**63), "Truncated")
put("gguf/huge_string_len.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**63) + b"abc", "Truncated")
put("gguf/huge_array_count.gguf", gguf([kv("a", 9, struct.pack("<IQ", 4, 2**61))], []), "Truncated")
put("gguf/unknown_value_type.gguf", gguf([kv("a", 77, b"\0" * 8)], []), "Malformed")
put("gguf/unknown_array_type.gguf", gguf([kv("a", 9, struct.pack("<IQ", 99, 1) + b"\0" * 8)], []), "Malformed")
put("gguf/bad_bool.gguf", gguf([kv("a", 7, b"\x02")], []), "Malformed")
put("gguf/duplicate_key.gguf", gguf([kv("a", 4, b"\1\0\0\0"), kv("a", 4, b"\2\0\0\0")], []), "DuplicateKey")
nest = struct.pack("<IQ", 9, 1) * 10 + struct.pack("<IQ", 4, 0)
put("gguf/deep_nested_array.gguf", gguf([kv("a", 9, nest)], []), "LimitExceeded")
put("gguf/bad_alignment.gguf", gguf([kv("general.alignment", 4, struct.pack("<I", 3))], []), "Malformed")
put("gguf/unknown_ggml_type.gguf", gguf([], [tinfo("w", [4], 99, 0)], b"\0" * 32), "UnknownType")
put("gguf/too_many_dims.gguf", gguf([], [tinfo("w", [1, 1, 1, 1, 1], 0, 0)], b"\0" * 32), "BadTensor")
put("gguf/dims_overflow.gguf", gguf([], [tinfo("w", [2**40, 2**40], 0, 0)], b"\0" * 32), "BadTensor")
put("gguf/row_not_divisible.gguf", gguf([], [tinfo("w", [33], 8, 0)], b"\0" * 64), "BadTensor")
put("gguf/offset_past_end.gguf", gguf([], [tinfo("w", [4], 0, 2**40)], b"\0" * 32), "OutOfBounds")
put("gguf/offset_overflow.gguf", gguf([], [tinfo("w", [4], 0, 2**64 - 32)], b"\0" * 32), "OutOfBounds")
put("gguf/misaligned_offset.gguf", gguf([], [tinfo("w", [4], 0, 4)], b"\0" * 64), "Misaligned")
put("gguf/overlapping.gguf", gguf([], [tinfo("a", [16], 0, 0), tinfo("b", [16], 0, 32)], b"\0" * 128), "Overlap")
put("gguf/duplicate_tensor.gguf", gguf([], [tinfo("a", [4], 0, 0), tinfo("a", [4], 0, 32)], b"\0" * 64), "DuplicateTensor")
put("gguf/name_not_utf8.gguf", gguf([], [tinfo(b"\xff\xfe", [4], 0, 0)], b"\0" * 32), "Malformed")


# ------------------------------------------------------------------ safetensors
def st(header: dict | bytes, data: bytes) -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


put("safetensors/short.safetensors", b"\x10\0\0", "Truncated")
put("safetensors/header_len_huge.safetensors", struct.pack("<Q", 2**62) + b"{}", "Malformed")
put("safetensors/header_past_end.safetensors", struct.pack("<Q", 1000) + b"{}", "Malformed")
put("safetensors/bad_json.safetensors", st(b"{not json", b""), "Malformed")
put("safetensors/offsets_past_end.safetensors", st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8), "Malformed")
put("safetensors/offsets_overlap.safetensors", st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24), "Malformed")
put("safetensors/shape_lies.safetensors", st({"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 16]}}, b"\0" * 16), "Malformed")
put("safetensors/shape_overflow.safetensors", st({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}, b"\0" * 16), "Malformed")
put("safetensors/fp8.safetensors", st({"a": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4), "UnsupportedDtype")


# ------------------------------------------------------------------ PyTorch zip pickles
def zip_with(pkl: bytes, extra: dict[str, bytes] | None = None, method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in (extra or {}).items():
            z.writestr(k, v)
    return buf.getvalue()


good = tz.state_dict([("w", tz.contiguous("0", "FloatStorage", np.arange(4, dtype=np.float32)))])
good_pkl = tz.dumps(good)
buf = io.BytesIO()
tz.save(buf, good)
good_zip = buf.getvalue()


class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


put("torch/unknown_global.bin", zip_with(pickle.dumps({"w": Evil()}, protocol=2)), "PickleGlobal")
put("torch/builtins_eval.bin", zip_with(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1;\x85R."), "PickleGlobal")
put("torch/stack_global_exec.bin", zip_with(b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93."), "PickleGlobal")
put("torch/inst_opcode.bin", zip_with(b"\x80\x02(ios\nsystem\nX\x02\x00\x00\x00ls\x85."), "Pickle")
put("torch/deep_nesting.bin", zip_with(b"\x80\x02)" + b"\x85" * 200 + b"."), "LimitExceeded")
put("torch/deep_list.bin", zip_with(b"\x80\x02]" + b"]" * 100 + b"a" * 100 + b"."), "LimitExceeded")
put("torch/huge_string.bin", zip_with(b"\x80\x02X\xff\xff\xff\x7f" + b"a" * 10), "LimitExceeded")
put("torch/huge_binunicode8.bin", zip_with(b"\x80\x04\x8d" + struct.pack("<Q", 2**62) + b"a"), "LimitExceeded")
put("torch/memo_undefined.bin", zip_with(b"\x80\x02h\x05."), "Pickle")
put("torch/stack_underflow.bin", zip_with(b"\x80\x02s."), "Pickle")
put("torch/truncated_pickle.bin", zip_with(good_pkl[: len(good_pkl) // 2]), "Pickle")
put("torch/not_a_dict.bin", zip_with(b"\x80\x02K\x05."), "Pickle")
put("torch/missing_storage.bin", zip_with(good_pkl), "Zip")
short = io.BytesIO()
with zipfile.ZipFile(short, "w") as z:
    z.writestr("archive/data.pkl", good_pkl)
    z.writestr("archive/data/0", b"\0" * 8)  # 2 floats, the pickle says 4
put("torch/storage_too_small.bin", short.getvalue(), "BadTensor")
past = tz.state_dict([("w", tz.Tensor(tz.Storage("0", "FloatStorage", np.zeros(4, np.float32)), 2, (4,), (1,)))])
put("torch/view_past_storage.bin", zip_with(tz.dumps(past), {"archive/data/0": b"\0" * 16}), "Pickle")
put("torch/byte_storage.bin", zip_with(tz.dumps(tz.state_dict([("w", tz.contiguous("0", "ByteStorage", np.zeros(4, np.uint8)))])), {"archive/data/0": b"\0" * 4}), "UnsupportedDtype")
put("torch/compressed.bin", zip_with(good_pkl, {"archive/data/0": b"\0" * 16}, zipfile.ZIP_DEFLATED), "Zip")
put("torch/no_data_pkl.bin", zip_with(b"", {}).replace(b"archive/data.pkl", b"archive/other.pk"), "Zip")
put("torch/truncated_zip.bin", good_zip[: len(good_zip) - 30], "Zip")
put("torch/legacy_pickle.bin", pickle.dumps({"a": 1}, protocol=2), "Unsupported")
cd = bytearray(good_zip)
i = cd.rfind(b"PK\x05\x06")
cd[i + 16:i + 20] = struct.pack("<I", 0x7FFFFFF0)  # central directory offset past the end
put("torch/cd_offset_past_end.bin", bytes(cd), "Zip")
cd = bytearray(good_zip)
cd[i + 10:i + 12] = struct.pack("<H", 0xFFF0)  # more entries than the directory can hold
put("torch/entry_count_lies.bin", bytes(cd), "Zip")


def main() -> None:
    (OUT / "expected.txt").write_text("".join(f"{p} {v}\n" for p, v in sorted(expected)))
    print(f"wrote {len(expected)} corpus files into {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
