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
        parts.append(struct.pack("<q", (numel + 2 ** 63) % 2 ** 64 - 2 ** 63) + storage.data)  # wraps like int64
    return b"".join(parts)


def floats(n: int) -> bytes:
    return np.arange(n, dtype="<f4").tobytes()


def single_tensor(size: tuple[int, ...], stride: tuple[int, ...], numel: int = 4, offset: int = 0,
                  data: bytes | None = None, type_name: str = "FloatStorage", name: str = "conv1.weight") -> Checkpoint:
    """One tensor over one float storage, with whatever geometry the test declares."""
    storage = StorageRecord(type_name, numel, floats(max(numel, 0)) if data is None else data)
    return Checkpoint({name: TensorRecord("0", size, stride, offset)}, {"0": storage})


# -- images whose headers promise more than their bytes hold ----------------------------------------------------
def tiff_bomb(width: int, height: int, rows_per_strip: int = 16) -> bytes:
    """An RGB TIFF whose strips all point at the same few deflated bytes: small on disk, but every row decodes,
    so a reader that trusts it touches width * height * 3 bytes."""
    import zlib

    strip = zlib.compress(bytes(rows_per_strip * width * 3), 9)
    strips = -(-height // rows_per_strip)
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 8), (262, 3, 1, 2),
            (273, 4, strips, None), (277, 3, 1, 3), (278, 4, 1, rows_per_strip), (279, 4, strips, None)]
    ifd_size = 2 + 12 * len(tags) + 4
    bits_at = 8 + ifd_size
    offsets_at = bits_at + 6
    counts_at = offsets_at + 4 * strips
    data_at = counts_at + 4 * strips
    values = {258: bits_at, 273: offsets_at, 279: counts_at}
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        value = values.get(tag, value)
        out += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                        else struct.pack("<I", value))
    out += b"\x00\x00\x00\x00" + struct.pack("<HHH", 8, 8, 8)
    out += struct.pack(f"<{strips}I", *([data_at] * strips)) + struct.pack(f"<{strips}I", *([len(strip)] * strips))
    return out + strip


def bmp_rle_bomb(width: int, height: int) -> bytes:
    """An 8-bit run-length BMP that ends at once: a decoder fills all width * height pixels with colour 0."""
    palette = bytes(4 * 256)
    pixels = b"\x00\x01"  # end of bitmap
    offset = 14 + 40 + len(palette)
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + header + palette + pixels


def png_header(width: int, height: int, depth: int = 8, color_type: int = 2) -> bytes:
    import zlib

    def chunk(tag: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + tag + body + zlib.crc32(tag + body).to_bytes(4, "big")

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")


def webp_vp8x(width: int, height: int) -> bytes:
    """An extended WebP header declaring a canvas, and nothing to decode."""
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + \
        (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG with its frame header (SOF) changed to declare another size."""
    data = bytearray(jpeg)
    i = 2
    while data[i] == 0xFF:
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data[i + 5:i + 7] = height.to_bytes(2, "big")
            data[i + 7:i + 9] = width.to_bytes(2, "big")
            return bytes(data)
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    raise ValueError("no frame header found")


def tiff_plain(rgb: np.ndarray, order: str = "<", big: bool = False,
               declare: tuple[int, int] | None = None) -> bytes:
    """An uncompressed RGB TIFF of ``rgb`` in either byte order, classic or BigTIFF; ``declare`` (width,
    height) writes another size into the header than the pixels hold."""
    height, width = rgb.shape[:2]
    width, height = declare or (width, height)
    pixels = rgb.tobytes()
    short, long_, long8 = 3, 4, 16
    tags = [(256, long_, width), (257, long_, height), (258, short, None), (259, short, 1), (262, short, 2),
            (273, long8 if big else long_, None), (277, short, 3), (278, long_, height), (279, long_, len(pixels))]
    entry = 20 if big else 12
    head = 16 if big else 8
    ifd_size = (8 if big else 2) + entry * len(tags) + (8 if big else 4)
    bits_at = head + ifd_size
    data_at = bits_at + 6
    if big:
        out = (b"II" if order == "<" else b"MM") + struct.pack(order + "HHHQ", 43, 8, 0, head)
        out += struct.pack(order + "Q", len(tags))
    else:
        out = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, head)
        out += struct.pack(order + "H", len(tags))
    for tag, kind, value in tags:
        count = 3 if tag == 258 else 1
        value = {258: bits_at, 273: data_at}.get(tag, value)
        size = 8 if big else 4
        if tag == 258:  # three shorts: inline in BigTIFF's 8-byte field, elsewhere in classic TIFF
            field = struct.pack(order + "HHHH", 8, 8, 8, 0) if big else struct.pack(order + "I", value)
        elif kind == short:
            field = struct.pack(order + "H", value).ljust(size, b"\x00")
        elif kind == long8:
            field = struct.pack(order + "Q", value)
        else:
            field = struct.pack(order + "I", value).ljust(size, b"\x00")
        out += struct.pack(order + ("HHQ" if big else "HHI"), tag, kind, count) + field
    out += bytes(8 if big else 4)
    return out + struct.pack(order + "HHH", 8, 8, 8) + pixels
