"""Read PyTorch checkpoints (zip and legacy formats) into numpy arrays, without torch and without running code.

A checkpoint is a pickle. Unpickling an untrusted pickle can execute anything, so this reader resolves
only the few globals a tensor checkpoint needs (tensor rebuilders, storage types, OrderedDict) and
rejects every other one before it is called.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import WeightsError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


@dataclass
class _Storage:
    dtype: np.dtype
    key: str
    numel: int
    array: np.ndarray | None = None


@dataclass
class _View:
    base: _Storage
    offset: int  # in elements
    numel: int


@dataclass
class _Tensor:
    storage: _Storage | _View
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self) -> np.ndarray:
        if isinstance(self.storage, _View):
            base, extra = self.storage.base, self.storage.offset
        else:
            base, extra = self.storage, 0
        if base.array is None:
            raise WeightsError(f"checkpoint storage {base.key!r} has no data")
        flat = base.array[extra + self.offset:]
        if self.size and flat.size < 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride)):
            raise WeightsError("checkpoint tensor reaches past the end of its storage")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat, shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False)
        return np.array(view)  # own copy, contiguous


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor_v2(storage: Any, storage_offset: int, size: tuple, stride: tuple, requires_grad: bool = False,
                       backward_hooks: Any = None, metadata: Any = None) -> _Tensor:
    if not isinstance(storage, (_Storage, _View)):
        raise WeightsError("checkpoint tensor is not backed by a storage")
    return _Tensor(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None) -> Any:
    return data


def _rebuild_parameter_with_state(data: Any, requires_grad: bool, backward_hooks: Any, state: Any) -> Any:
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage] | None, legacy: bool) -> None:
        super().__init__(file)
        self._storages = storages
        self._legacy = legacy

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise WeightsError(
            f"refusing to load the checkpoint: it references {module}.{name}, which is not a tensor "
            "or plain container (the file may run code when unpickled; only weight files are accepted)")

    def persistent_load(self, pid: Any) -> Any:
        if self._storages is None or not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise WeightsError(f"unsupported persistent object in checkpoint: {pid!r:.80}")
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise WeightsError("checkpoint storage has an unknown type")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(storage_type.dtype, key, numel)
        if self._legacy and len(pid) > 5 and pid[5] is not None:
            view_key, offset, view_numel = pid[5]
            return _View(storage, int(offset), int(view_numel))
        return storage


def _load_pickle(data: BinaryIO, storages: dict[str, _Storage] | None, legacy: bool) -> Any:
    try:
        return _RestrictedUnpickler(data, storages, legacy).load()
    except WeightsError:
        raise
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise WeightsError(f"the checkpoint is corrupt or not a PyTorch file ({type(exc).__name__}: {exc})") from exc


def _read_zip(path: Path) -> Any:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise WeightsError(f"{path} is a damaged zip archive: {exc}") from exc
    with archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise WeightsError(f"{path} is a zip file but not a PyTorch checkpoint (no single data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        try:
            result = _load_pickle(io.BytesIO(archive.read(pkl[0])), storages, legacy=False)
            for key, storage in storages.items():
                # members are read by their exact name, never extracted to disk
                raw = archive.read(f"{prefix}data/{key}")
                storage.array = _frombuffer(raw, storage, path)
        except (KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise WeightsError(f"{path} is a truncated or damaged PyTorch checkpoint: {exc}") from exc
    return result


def _frombuffer(raw: bytes, storage: _Storage, path: Path) -> np.ndarray:
    expected = storage.numel * storage.dtype.itemsize
    if len(raw) < expected:
        raise WeightsError(f"{path} is truncated: storage {storage.key} has {len(raw)} of {expected} bytes")
    return np.frombuffer(raw[:expected], dtype=storage.dtype.newbyteorder("<"))


def _read_legacy(path: Path) -> Any:
    with open(path, "rb") as f:
        header = f.read(512)
        if len(header) >= 262 and header[257:262] == b"ustar":
            raise WeightsError(f"{path} uses PyTorch's pre-0.4 tar format, which is not supported")
        f.seek(0)
        magic = _load_pickle(f, None, legacy=True)
        if magic != LEGACY_MAGIC:
            raise WeightsError(f"{path} is not a PyTorch checkpoint (bad magic number)")
        if _load_pickle(f, None, legacy=True) != LEGACY_PROTOCOL:
            raise WeightsError(f"{path} uses an unsupported PyTorch serialization protocol")
        sys_info = _load_pickle(f, None, legacy=True)
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise WeightsError(f"{path} was saved on a big-endian machine, which is not supported")
        storages: dict[str, _Storage] = {}
        result = _load_pickle(f, storages, legacy=True)
        keys = _load_pickle(f, None, legacy=True)
        if not isinstance(keys, list):
            raise WeightsError(f"{path} is damaged: no storage list after the pickle")
        for key in keys:
            storage = storages.get(str(key))
            if storage is None:
                raise WeightsError(f"{path} is damaged: unknown storage {key!r}")
            head = f.read(8)
            if len(head) != 8:
                raise WeightsError(f"{path} is truncated (storage {key} missing)")
            (numel,) = struct.unpack("<q", head)
            if numel != storage.numel:
                raise WeightsError(f"{path} is damaged: storage {key} has {numel} elements, expected {storage.numel}")
            storage.array = _frombuffer(f.read(numel * storage.dtype.itemsize), storage, path)
    return result


def _materialize(obj: Any) -> Any:
    if isinstance(obj, _Tensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v)) for k, v in obj.items()) if isinstance(obj, collections.OrderedDict) \
            else {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    if isinstance(obj, (_Storage, _View, _StorageType)):
        raise WeightsError("checkpoint holds a bare storage; only tensors are supported")
    return obj


def load_torch_checkpoint(path: Path | str) -> Any:
    """Plain containers (dict, list, tuple, str, numbers) with every tensor as a numpy array."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) < 2:
        raise WeightsError(f"{path} is empty or truncated")
    obj = _read_zip(path) if head == b"PK\x03\x04" else _read_legacy(path)
    return _materialize(obj)
