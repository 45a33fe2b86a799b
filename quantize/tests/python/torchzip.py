"""Writes PyTorch `torch.save` zip archives without torch, for fixtures and the hostile corpus.

CPython's own pickler produces the stream: stand-in callables registered as `torch._utils.
_rebuild_tensor_v2` / `_rebuild_parameter` and storage classes `torch.FloatStorage`... pickle by
reference exactly as the real ones do, and `persistent_id` returns torch's
('storage', storage_type, key, location, numel) tuples. The zip layout (`<name>/data.pkl`,
`<name>/data/<key>`, `<name>/version`, `<name>/byteorder`, STORED entries) follows
torch/serialization.py `_save`.
"""
import collections
import io
import pickle
import sys
import types
import zipfile

import numpy as np

torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
sys.modules.setdefault("torch", torch_mod)
sys.modules.setdefault("torch._utils", utils_mod)


def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in")


def _rebuild_parameter(*args):
    raise RuntimeError("stand-in")


for f in (_rebuild_tensor_v2, _rebuild_parameter):
    f.__module__ = "torch._utils"
    setattr(utils_mod, f.__name__, f)

STORAGES = {}
for name, dt in [("FloatStorage", np.float32), ("HalfStorage", np.float16), ("BFloat16Storage", np.uint16),
                 ("LongStorage", np.int64), ("DoubleStorage", np.float64), ("ByteStorage", np.uint8)]:
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch_mod, name, cls)
    STORAGES[name] = (cls, dt)


class Storage:
    def __init__(self, key: str, kind: str, data: np.ndarray):
        self.key, self.kind, self.data = key, kind, np.ascontiguousarray(data)


class Tensor:
    """A view: storage, offset, size, stride (elements)."""

    def __init__(self, storage: Storage, offset: int, size, stride, parameter=False):
        self.storage, self.offset, self.size, self.stride, self.parameter = storage, offset, tuple(size), tuple(stride), parameter

    def __reduce__(self):
        args = (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict())
        t = (_rebuild_tensor_v2, args)
        if self.parameter:
            return (_rebuild_parameter, (_Reduced(t), False, collections.OrderedDict()))
        return t


class _Reduced:
    def __init__(self, r):
        self.r = r

    def __reduce__(self):
        return self.r


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            cls, _ = STORAGES[obj.kind]
            return ("storage", cls, obj.key, "cpu", int(obj.data.size))
        return None


def contiguous(key: str, kind: str, arr: np.ndarray, parameter=False) -> Tensor:
    s = Storage(key, kind, arr.reshape(-1))
    strides, acc = [], 1
    for d in reversed(arr.shape):
        strides.insert(0, acc)
        acc *= d
    return Tensor(s, 0, arr.shape, strides, parameter)


def dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def storages_of(obj):
    out = {}
    def walk(o):
        if isinstance(o, Tensor):
            out[o.storage.key] = o.storage
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
    walk(obj)
    return out


def save(path, state: dict, archive: str = "archive", pickle_bytes: bytes | None = None, compress: bool = False) -> None:
    data = pickle_bytes if pickle_bytes is not None else dumps(state)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr(f"{archive}/data.pkl", data)
        z.writestr(f"{archive}/byteorder", "little")
        for key, s in storages_of(state).items():
            z.writestr(f"{archive}/data/{key}", s.data.tobytes())
        z.writestr(f"{archive}/version", "3\n")


def state_dict(items) -> collections.OrderedDict:
    sd = collections.OrderedDict(items)
    sd._metadata = collections.OrderedDict([("", {"version": 1})])  # what nn.Module.state_dict() carries
    return sd
