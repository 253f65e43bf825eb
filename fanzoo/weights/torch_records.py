"""What a PyTorch checkpoint's pickle declares (tensors over storages), unpickled without running code, and
checked before any tensor data is touched.

The restricted unpickler resolves only the globals a tensor checkpoint needs. Every tensor record is then
checked against its storage with Python integers (no overflow): as many strides as dimensions, none
negative, offset and extent inside the storage, and a bound on the bytes it will take.
"""
from __future__ import annotations

import collections
import math
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from ..errors import WeightsError

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
MAX_DEPTH = 32  # containers inside containers; a state dict needs 2 or 3
MAX_NODES = 1_000_000  # containers and values visited; a FAN state dict has about a thousand


class _Immutable:
    """Records are made by our own constructors; a pickle's BUILD opcode must not rewrite them afterwards."""

    def __setstate__(self, state: Any) -> None:
        raise WeightsError("the checkpoint's pickle tries to modify a tensor record; it is not a weight file")


@dataclass(eq=False)
class Storage(_Immutable):
    """A flat buffer of ``numel`` elements, read on first use by ``loader`` and dropped after its last user,
    so that reading a checkpoint holds one storage at a time besides the arrays already made."""

    dtype: np.dtype
    key: str
    numel: int
    loader: Callable[[Storage], np.ndarray] | None = None
    users: int = 0
    _array: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def acquire(self) -> np.ndarray:
        if self._array is None:
            if self.loader is None:
                raise WeightsError(f"checkpoint storage {self.key!r} was not checked before use")
            self._array = self.loader(self)
        return self._array

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self._array = None


@dataclass(eq=False)
class View(_Immutable):
    """A legacy-format slice of a storage, in elements."""

    base: Storage
    offset: int
    numel: int


@dataclass(eq=False)
class Tensor(_Immutable):
    storage: Storage | View
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def base(self) -> Storage:
        return self.storage.base if isinstance(self.storage, View) else self.storage

    @property
    def numel(self) -> int:
        return math.prod(self.size)

    @property
    def nbytes(self) -> int:
        return self.numel * self.base.dtype.itemsize

    def check(self, where: str) -> None:
        """Raise :class:`WeightsError` unless every element this tensor addresses is inside its storage."""
        if len(self.size) != len(self.stride):
            raise WeightsError(f"{where} has {len(self.size)} dimensions but {len(self.stride)} strides")
        if any(n < 0 for n in self.size) or any(s < 0 for s in self.stride) or self.offset < 0:
            raise WeightsError(f"{where} has a negative size, stride or offset (size {self.size}, "
                               f"stride {self.stride}, offset {self.offset})")
        available = self.storage.numel
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) if self.numel else self.offset - 1
        if last >= available:
            raise WeightsError(f"{where} reaches element {last} of a storage of {available} elements "
                               f"(size {self.size}, stride {self.stride}, offset {self.offset})")

    def materialize(self) -> np.ndarray:
        """The tensor's array, only after :meth:`check`: the storage itself when this is its only user and
        covers all of it in order, else an owned contiguous copy."""
        base = self.base
        flat = base.acquire()
        start = self.offset + (self.storage.offset if isinstance(self.storage, View) else 0)
        contiguous = self.stride == tuple(math.prod(self.size[i + 1:]) for i in range(len(self.size)))
        if base.users == 1 and start == 0 and self.numel == base.numel and contiguous:
            array = flat.reshape(self.size)
        else:
            item = base.dtype.itemsize
            array = np.array(np.lib.stride_tricks.as_strided(
                flat[start:], shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False))
        base.release()
        return array


class _StorageType(_Immutable):
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name]).newbyteorder("<")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WeightsError(f"checkpoint tensor {what} is {type(value).__name__}, not an integer")
    return value


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or len(values) > 64:
        raise WeightsError(f"checkpoint tensor {what} is not a short tuple of integers")
    return tuple(_int(v, what) for v in values)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> Tensor:
    if not isinstance(storage, (Storage, View)):
        raise WeightsError("checkpoint tensor is not backed by a storage")
    return Tensor(storage, _int(storage_offset, "offset"), _ints(size, "size"), _ints(stride, "stride"))


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> Any:
    return data


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, backward_hooks: Any, state: Any) -> Any:
    return data


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Builds tensor records and plain containers; refuses every other global before it is called."""

    def __init__(self, file: BinaryIO, storages: dict[str, Storage] | None, legacy: bool) -> None:
        super().__init__(file)
        self._storages = storages
        self._legacy = legacy

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name.endswith("Storage"):
            raise WeightsError(f"the checkpoint holds torch.{name} tensors, an unsupported dtype "
                               f"(supported: {', '.join(STORAGE_DTYPES)})")
        raise WeightsError(
            f"refusing to load the checkpoint: it references {module}.{name}, which is not a tensor "
            "or plain container (the file may run code when unpickled; only weight files are accepted)")

    def persistent_load(self, pid: Any) -> Any:
        if self._storages is None or not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise WeightsError(f"unsupported persistent object in checkpoint: {pid!r:.80}")
        storage_type, key, numel = pid[1], str(pid[2]), _int(pid[4], "storage size")
        if not isinstance(storage_type, _StorageType):
            raise WeightsError("checkpoint storage has an unknown type")
        if numel < 0:
            raise WeightsError(f"checkpoint storage {key!r} declares a negative size ({numel})")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = Storage(storage_type.dtype, key, numel)
        elif storage.dtype != storage_type.dtype or storage.numel != numel:
            raise WeightsError(f"checkpoint storage {key!r} is declared twice, differently")
        if self._legacy and len(pid) > 5 and pid[5] is not None:
            view = pid[5]
            if not isinstance(view, tuple) or len(view) != 3:
                raise WeightsError(f"checkpoint storage view {view!r:.80} is malformed")
            offset, view_numel = _int(view[1], "view offset"), _int(view[2], "view size")
            if offset < 0 or view_numel < 0 or offset + view_numel > numel:
                raise WeightsError(f"checkpoint storage {key!r} has a view outside it")
            return View(storage, offset, view_numel)
        return storage


def unpickle(stream: BinaryIO, storages: dict[str, Storage] | None, legacy: bool) -> Any:
    """Unpickle one (already checked, see pickle_scan) pickle; any failure is a :class:`WeightsError`."""
    try:
        return RestrictedUnpickler(stream, storages, legacy).load()
    except WeightsError:
        raise
    except Exception as exc:  # a corrupt pickle can raise almost anything
        raise WeightsError(f"the checkpoint is corrupt or not a PyTorch file ({type(exc).__name__}: {exc})") from None


def walk(obj: Any) -> Iterator[tuple[str, Any]]:
    """(where, value) for every value below ``obj``, each container once, depth and count bounded."""
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [("checkpoint", obj, 0)]
    count = 0
    while stack:
        where, value, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise WeightsError(f"the checkpoint holds more than {MAX_NODES} objects; that is no weight file")
        if isinstance(value, (dict, list, tuple)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if depth >= MAX_DEPTH:
                raise WeightsError(f"the checkpoint nests containers more than {MAX_DEPTH} deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((f"{where}[{k!r:.60}]", v, depth + 1) for k, v in items)
        yield where, value


def materialize(obj: Any, memo: dict[int, Any] | None = None, depth: int = 0) -> Any:
    """``obj`` with every tensor record replaced by its array; shared containers stay shared."""
    memo = {} if memo is None else memo
    if depth > MAX_DEPTH:
        raise WeightsError(f"the checkpoint nests containers more than {MAX_DEPTH} deep")
    if isinstance(obj, Tensor):
        if id(obj) not in memo:
            memo[id(obj)] = obj.materialize()
        return memo[id(obj)]
    if isinstance(obj, (Storage, View, _StorageType)):
        raise WeightsError("checkpoint holds a bare storage; only tensors are supported")
    if not isinstance(obj, (dict, list, tuple)):
        return obj
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, dict):
        out: Any = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        memo[id(obj)] = out
        for k, v in obj.items():
            out[k] = materialize(v, memo, depth + 1)
        return out
    if isinstance(obj, list):
        out = []
        memo[id(obj)] = out
        out.extend(materialize(v, memo, depth + 1) for v in obj)
        return out
    memo[id(obj)] = result = tuple(materialize(v, memo, depth + 1) for v in obj)
    return result
