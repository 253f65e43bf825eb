"""Hostile and damaged files, built byte by byte (no torch needed), for the hardening tests and the fuzz suite.

A PyTorch checkpoint is written opcode by opcode in the layout torch itself uses (``_rebuild_tensor_v2``
records pointing at storages by persistent id), so any size, stride or storage a real file could declare
can be declared here too; ``tests/test_hostile_checkpoints.py`` checks the writer against torch-made files.
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_TYPES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
                 np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
                 np.dtype(np.int32): "IntStorage", np.dtype(np.uint8): "ByteStorage"}


@dataclass(frozen=True)
class TensorRecord:
    """What a checkpoint says about one tensor; nothing forces it to be true."""

    storage: str  # key of the storage
    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int = 0


@dataclass
class StorageRecord:
    type_name: str  # e.g. "FloatStorage"
    numel: int  # what the pickle declares
    data: bytes = b""  # what the file holds
    legacy_numel: int | None = None  # what the legacy format's per-storage header says (default: numel)


@dataclass
class Checkpoint:
    tensors: dict[str, TensorRecord] = field(default_factory=dict)
    storages: dict[str, StorageRecord] = field(default_factory=dict)
    wrap: str | None = None  # e.g. "state_dict": the tensors go one level down


def from_arrays(state: Mapping[str, np.ndarray], wrap: str | None = None) -> Checkpoint:
    """An honest checkpoint of ``state``, one storage per tensor, C order."""
    ckpt = Checkpoint(wrap=wrap)
    for i, (name, array) in enumerate(state.items()):
        array = np.ascontiguousarray(array)
        key = str(i)
        strides = tuple(s // array.itemsize for s in array.strides)
        ckpt.storages[key] = StorageRecord(STORAGE_TYPES[array.dtype], array.size, array.astype(
            array.dtype.newbyteorder("<")).tobytes())
        ckpt.tensors[name] = TensorRecord(key, tuple(array.shape), strides)
    return ckpt


# -- pickle opcodes, written by hand so that any value can be declared ---------------------------------------
def _str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -(2 ** 31) <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tensor_opcodes(record: TensorRecord, storage: StorageRecord, legacy: bool) -> bytes:
    pid = [_str("storage"), _global("torch", storage.type_name), _str(record.storage), _str("cpu"),
           _int(storage.numel)]
    if legacy:
        pid.append(b"N")
    persistent = _tuple(pid) + b"Q"
    hooks = _global("collections", "OrderedDict") + b")R"
    args = _tuple([persistent, _int(record.offset), _tuple([_int(v) for v in record.size]),
                   _tuple([_int(v) for v in record.stride]), b"\x89", hooks])
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def checkpoint_pickle(ckpt: Checkpoint, legacy: bool) -> bytes:
    body = b"}(" + b"".join(_str(name) + tensor_opcodes(rec, ckpt.storages[rec.storage], legacy)
                            for name, rec in ckpt.tensors.items()) + b"u"
    if ckpt.wrap:
        body = b"}" + _str(ckpt.wrap) + body + b"s"
    return b"\x80\x02" + body + b"."


def zip_checkpoint(ckpt: Checkpoint, pickle_bytes: bytes | None = None,
                   compression: int = zipfile.ZIP_STORED, omit: tuple[str, ...] = ()) -> bytes:
    """The torch >= 1.6 layout; storages named in ``omit`` get no member (the caller adds its own)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        z.writestr("archive/data.pkl", checkpoint_pickle(ckpt, legacy=False) if pickle_bytes is None else pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, storage in ckpt.storages.items():
            if key not in omit:
                z.writestr(f"archive/data/{key}", storage.data)
    return out.getvalue()


def legacy_checkpoint(ckpt: Checkpoint, pickle_bytes: bytes | None = None) -> bytes:
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    parts = [pickle.dumps(LEGACY_MAGIC, protocol=2), pickle.dumps(1001, protocol=2), pickle.dumps(sys_info, protocol=2),
             checkpoint_pickle(ckpt, legacy=True) if pickle_bytes is None else pickle_bytes,
             pickle.dumps(list(ckpt.storages), protocol=2)]
    for storage in ckpt.storages.values():
        numel = storage.numel if storage.legacy_numel is None else storage.legacy_numel
        parts.append(struct.pack("<q", numel) + storage.data)
    return b"".join(parts)


def floats(n: int) -> bytes:
    return np.arange(n, dtype="<f4").tobytes()


def single_tensor(size: tuple[int, ...], stride: tuple[int, ...], numel: int = 4, offset: int = 0,
                  data: bytes | None = None, type_name: str = "FloatStorage", name: str = "conv1.weight") -> Checkpoint:
    """One tensor over one float storage, with whatever geometry the test declares."""
    storage = StorageRecord(type_name, numel, floats(max(numel, 0)) if data is None else data)
    return Checkpoint({name: TensorRecord("0", size, stride, offset)}, {"0": storage})
