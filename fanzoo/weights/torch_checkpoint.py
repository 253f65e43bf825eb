"""Read PyTorch checkpoints (zip and legacy formats) into numpy arrays, without torch and without running code.

Bytes are trusted only after checks, in this order: the file's size; each pickle's opcodes (declared
lengths, see pickle_scan); the globals it names (torch_records); every tensor record against its storage;
with the graph's element counts, each parameter's name and size; the total of the storages; and only then
are the storages read, each exactly as long as declared, never more.
"""
from __future__ import annotations

import io
import mmap
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WeightsError
from .names import unwrap_state_dict
from .pickle_scan import check_pickle
from .torch_records import Storage, Tensor, materialize, unpickle, walk

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# the largest official FAN-family file is about 100 MB; a training checkpoint with optimizer state a few times that
MAX_FILE_BYTES = 1 << 30
MAX_TENSOR_BYTES = 1 << 30  # storages read, and again arrays made, when no expected sizes bound them
MAX_PICKLE_BYTES = 64 << 20
_CHUNK = 4 << 20
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


class _Parsed:
    """The object tree of a checkpoint with its storages declared but not yet read."""

    def __init__(self, path: Path, root: Any, storages: dict[str, Storage]) -> None:
        self.path, self.root, self.storages = path, root, storages


def _file_size(path: Path) -> int:
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    size = path.stat().st_size
    if size < 2:
        raise WeightsError(f"{path} is empty or truncated")
    if size > MAX_FILE_BYTES:
        raise WeightsError(f"{path} is {size / 2 ** 30:.1f} GiB; a FAN checkpoint is at most a few hundred MB "
                           f"(limit {MAX_FILE_BYTES >> 20} MiB)")
    return size


# -- zip format (torch >= 1.6) ------------------------------------------------------------------------------
def _read_entry(archive: zipfile.ZipFile, name: str, nbytes: int, path: Path,
                out: memoryview | None = None) -> bytearray:
    """Exactly ``nbytes`` of a member, decompressed in bounded chunks whatever its header claims; into ``out``
    when given (then the returned bytes are empty)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise WeightsError(f"{path} is damaged: member {name!r} is missing") from None
    if info.compress_type not in _ZIP_METHODS:
        raise WeightsError(f"{path}: member {name!r} uses zip compression method {info.compress_type}; "
                           "PyTorch stores members uncompressed (deflate is also read)")
    if info.file_size < nbytes:
        raise WeightsError(f"{path} is damaged: member {name!r} holds {info.file_size} bytes, {nbytes} declared")
    view = memoryview(bytearray(nbytes)) if out is None else out
    try:
        with archive.open(info) as entry:
            done = 0
            while done < nbytes:
                chunk = entry.read(min(_CHUNK, nbytes - done))
                if not chunk:
                    raise WeightsError(f"{path} is truncated: member {name!r} ends after {done} of {nbytes} bytes")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
        raise WeightsError(f"{path} is a damaged zip archive ({name}: {exc})") from None
    return bytearray() if out is not None else view.obj


def _parse_zip(path: Path) -> tuple[_Parsed, zipfile.ZipFile, str]:
    try:
        archive = zipfile.ZipFile(path)
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise WeightsError(f"{path} is a damaged zip archive: {exc}") from None
    try:
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise WeightsError(f"{path} is a zip file but not a PyTorch checkpoint (no single data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist():
            order = archive.getinfo(f"{prefix}byteorder").file_size
            if order > 16 or _read_entry(archive, f"{prefix}byteorder", order, path).strip() != b"little":
                raise WeightsError(f"{path} was saved on a big-endian machine, which is not supported")
        size = archive.getinfo(pkl[0]).file_size
        if size > MAX_PICKLE_BYTES:
            raise WeightsError(f"{path}: its data.pkl declares {size >> 20} MiB; a weight file's is far smaller")
        stream = io.BytesIO(_read_entry(archive, pkl[0], size, path))
        check_pickle(stream, size, str(path))
        storages: dict[str, Storage] = {}
        root = unpickle(stream, storages, legacy=False)
        return _Parsed(path, root, storages), archive, prefix
    except BaseException:
        archive.close()
        raise


# -- legacy format (torch < 1.6): pickles then raw storages, one after the other ----------------------------
def _parse_legacy(path: Path, mm: mmap.mmap) -> tuple[_Parsed, list]:
    """The object tree, and the storage keys in the order their bytes follow it."""
    end = len(mm)
    if mm[257:262] == b"ustar":
        raise WeightsError(f"{path} uses PyTorch's pre-0.4 tar format, which is not supported")

    def next_pickle(storages: dict[str, Storage] | None) -> Any:
        check_pickle(mm, end, str(path))  # type: ignore[arg-type]  (an mmap reads like a file)
        return unpickle(mm, storages, legacy=True)  # type: ignore[arg-type]

    if next_pickle(None) != LEGACY_MAGIC:
        raise WeightsError(f"{path} is not a PyTorch checkpoint (bad magic number)")
    if next_pickle(None) != LEGACY_PROTOCOL:
        raise WeightsError(f"{path} uses an unsupported PyTorch serialization protocol")
    sys_info = next_pickle(None)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise WeightsError(f"{path} was saved on a big-endian machine, which is not supported")
    storages: dict[str, Storage] = {}
    root = next_pickle(storages)
    keys = next_pickle(None)
    if not isinstance(keys, list) or len(keys) != len(storages):
        raise WeightsError(f"{path} is damaged: the storage list after the pickle does not match it")
    return _Parsed(path, root, storages), keys


def _locate_legacy_storages(parsed: _Parsed, keys: list, mm: mmap.mmap) -> dict[str, tuple[int, int]]:
    """Where each storage's bytes are: each is preceded by its element count, which must match the pickle's."""
    path, end, position = parsed.path, len(mm), mm.tell()
    where: dict[str, tuple[int, int]] = {}
    for key in keys:
        storage = parsed.storages.get(str(key))
        if storage is None or str(key) in where:
            raise WeightsError(f"{path} is damaged: unexpected storage {key!r:.40}")
        if position + 8 > end:
            raise WeightsError(f"{path} is truncated (storage {key} missing)")
        (numel,) = struct.unpack("<q", mm[position:position + 8])
        if numel != storage.numel:
            raise WeightsError(f"{path} is damaged: storage {key} has {numel} elements, the pickle says {storage.numel}")
        position += 8
        if position + storage.nbytes > end:
            raise WeightsError(f"{path} is truncated: storage {key} needs {storage.nbytes} bytes, "
                               f"{end - position} remain")
        where[storage.key] = (position, storage.nbytes)
        position += storage.nbytes
    return where


# -- checks shared by both formats --------------------------------------------------------------------------
def _check_tensors(parsed: _Parsed, tensors: list[tuple[str, Tensor]], budget: int,
                   loader: Callable[[Storage], np.ndarray]) -> None:
    """Every record valid and the bytes they need within ``budget``; then each storage they use may be read."""
    unique = {id(t): (where, t) for where, t in tensors}
    needed: dict[int, Storage] = {}
    total = 0
    for where, tensor in unique.values():
        tensor.check(f"{parsed.path}: {where}")
        total += tensor.nbytes
        needed[id(tensor.base)] = tensor.base
    storage_bytes = sum(s.nbytes for s in needed.values())
    if max(total, storage_bytes) > budget:
        raise WeightsError(f"{parsed.path}: its tensors declare {max(total, storage_bytes) / 2 ** 20:.0f} MiB, more "
                           f"than the {budget / 2 ** 20:.0f} MiB expected")
    for _, tensor in unique.values():
        tensor.base.users += 1
        tensor.base.loader = loader


def _into_array(storage: Storage, fill: Callable[[memoryview], None]) -> np.ndarray:
    array = np.empty(storage.numel, dtype=storage.dtype)
    fill(memoryview(array).cast("B"))
    return array


def _load(path: Path | str, select: Callable[[_Parsed], tuple[Any, list, int]]) -> Any:
    """Parse, let ``select(parsed) -> (result tree, [(where, tensor)], budget)`` choose, check, read, build.

    Every error names the file once (the record checks deep inside the pickle do not know it)."""
    path = Path(path)
    try:
        return _load_checked(path, select)
    except WeightsError as exc:
        if str(path) in str(exc):
            raise
        raise WeightsError(f"{path}: {exc}") from None


def _load_checked(path: Path, select: Callable[[_Parsed], tuple[Any, list, int]]) -> Any:
    _file_size(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if head == b"PK\x03\x04":
            parsed, archive, prefix = _parse_zip(path)
            with archive:
                tree, tensors, budget = select(parsed)

                def from_zip(storage: Storage) -> np.ndarray:
                    return _into_array(storage, lambda out: _read_entry(
                        archive, f"{prefix}data/{storage.key}", storage.nbytes, path, out))

                _check_tensors(parsed, tensors, budget, from_zip)
                return materialize(tree)
        try:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise WeightsError(f"cannot read {path}: {exc}") from None
        with mm:
            parsed, keys = _parse_legacy(path, mm)
            tree, tensors, budget = select(parsed)
            where: dict[str, tuple[int, int]] = {}

            def from_legacy(storage: Storage) -> np.ndarray:
                start, nbytes = where[storage.key]

                def fill(out: memoryview) -> None:
                    f.seek(start)
                    if f.readinto(out) != nbytes:
                        raise WeightsError(f"{path} is truncated (storage {storage.key})")
                return _into_array(storage, fill)

            _check_tensors(parsed, tensors, budget, from_legacy)
            where.update(_locate_legacy_storages(parsed, keys, mm))
            return materialize(tree)


def load_torch_checkpoint(path: Path | str) -> Any:
    """Plain containers (dict, list, tuple, str, numbers) with every tensor as a numpy array.

    :class:`WeightsError` for anything that is not a well-formed tensor checkpoint of at most
    ``MAX_TENSOR_BYTES`` of tensors.
    """
    def everything(parsed: _Parsed) -> tuple[Any, list, int]:
        tensors = [(where, v) for where, v in walk(parsed.root) if isinstance(v, Tensor)]
        return parsed.root, tensors, MAX_TENSOR_BYTES

    return _load(path, everything)


def load_torch_state_dict(path: Path | str, expected_numel: Mapping[str, int] | None = None,
                          model: str = "the model") -> dict[str, np.ndarray]:
    """The state dict of a checkpoint (a bare one, or under "state_dict"; "module." prefixes dropped).

    With ``expected_numel`` (state-dict name -> element count, from the graph), a name it does not list or a
    tensor of another size is refused before any tensor data is read, and only that many bytes are read.
    """
    def state_dict(parsed: _Parsed) -> tuple[Any, list, int]:
        for _ in walk(parsed.root):  # depth, count and sharing bounds before anything looks inside
            pass
        try:
            state = unwrap_state_dict(parsed.root, tensor_type=Tensor)
        except WeightsError as exc:
            raise WeightsError(f"{parsed.path}: {exc}") from None
        budget = MAX_TENSOR_BYTES
        if expected_numel is not None:
            for name, tensor in state.items():
                if name not in expected_numel:
                    raise WeightsError(f"{parsed.path} does not fit {model}: unexpected parameter {name!r}")
                if tensor.numel != expected_numel[name]:
                    raise WeightsError(f"{parsed.path} does not fit {model}: {name!r} has {tensor.numel} elements "
                                       f"(size {tensor.size}), the graph expects {expected_numel[name]}")
            budget = 8 * sum(expected_numel.values())  # float64 is the widest dtype a weight file uses
        return state, list(state.items()), budget

    return _load(path, state_dict)
