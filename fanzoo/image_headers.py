"""What an image file declares before it is decoded: its format, size and sample depth, read from the header
alone so that memory can be bounded first. Only JPEG, PNG, TIFF, WebP and BMP are accepted; other formats
are named (GIF, PNM, ...) so that the error says "unsupported", not "corrupt".
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

ACCEPTED = ("JPEG", "PNG", "TIFF", "WebP", "BMP")
# signatures of formats OpenCV (or a user) might try, which fanzoo does not read
_UNSUPPORTED = [
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"%PDF", "PDF"), (b"8BPS", "Photoshop PSD"),
    (b"\x76\x2f\x31\x01", "OpenEXR"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"#?RADIANCE", "Radiance HDR"), (b"#?RGBE", "Radiance HDR"), (b"\x59\xa6\x6a\x95", "Sun raster"),
    (b"PF", "PFM"), (b"Pf", "PFM"), (b"\x00\x00\x01\x00", "ICO"), (b"<svg", "SVG"), (b"<?xml", "SVG/XML"),
]
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8}


class UnsupportedFormat(ValueError):
    """Bytes of a known image format that fanzoo does not read; ``args[0]`` names it."""


class BadHeader(ValueError):
    """An accepted format whose header is damaged or impossible; ``args[0]`` says how."""


@dataclass(frozen=True)
class Header:
    """What the file declares. ``samples`` and ``sample_bytes`` size the decoder's buffer per pixel."""

    format: str
    width: int
    height: int
    samples: int = 3
    sample_bytes: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def decoded_bytes(self, factor: int = 1) -> int:
        """Bytes of the decoded image at 1/``factor`` scale (JPEG's reduced decoding), at least 3 channels."""
        pixels = math.ceil(self.width / factor) * math.ceil(self.height / factor)
        return pixels * max(self.samples, 3) * self.sample_bytes


def _u(data: bytes, offset: int, fmt: str) -> int:
    try:
        return struct.unpack_from(fmt, data, offset)[0]
    except struct.error:
        raise BadHeader("its header is truncated") from None


def _positive(header: Header) -> Header:
    if header.width <= 0 or header.height <= 0:
        raise BadHeader(f"its {header.format} header declares {header.width}x{header.height} pixels")
    return header


def _jpeg(data: bytes) -> Header:
    i, frame, sos = 2, None, None
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise BadHeader("its JPEG markers are damaged")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        length = _u(data, i + 2, ">H")
        if length < 2:
            raise BadHeader("its JPEG markers are damaged")
        if marker in _JPEG_SOF:
            if frame is not None:
                raise BadHeader("it declares two JPEG frames")
            precision, height, width = data[i + 4] if i + 4 < len(data) else 0, _u(data, i + 5, ">H"), _u(data, i + 7, ">H")
            frame = (marker, precision, width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            sos = i + 2 + length
            break
        i += 2 + length
    if frame is None or sos is None:
        raise BadHeader("it is a truncated JPEG (no frame or no scan)")
    marker, precision, width, height = frame
    header = _positive(Header("JPEG", width, height, 3, 2 if precision > 8 else 1))
    if data.rfind(b"\xff\xd9") < sos:
        raise BadHeader("it is a truncated JPEG (no end-of-image marker after its image data)")
    if marker < 0xC9:  # Huffman coding: every 8x8 block of the fullest component costs at least one bit
        blocks = math.ceil(width / 8) * math.ceil(height / 8)
        if (len(data) - sos) * 8 < blocks:
            raise BadHeader(f"its JPEG header declares {width}x{height} pixels, more than its {len(data)} bytes "
                            "can hold (truncated or corrupt)")
    return header


def _png(data: bytes) -> Header:
    if data[12:16] != b"IHDR" or _u(data, 8, ">I") != 13:
        raise BadHeader("its PNG header (IHDR) is missing")
    width, height, depth, color = _u(data, 16, ">I"), _u(data, 20, ">I"), data[24], data[25]
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(color)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        raise BadHeader(f"its PNG header declares colour type {color} at depth {depth}")
    return _positive(Header("PNG", width, height, channels, 2 if depth == 16 else 1))


_TIFF_TYPES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 8: ("h", 2), 9: ("i", 4), 16: ("Q", 8), 17: ("q", 8)}


def _tiff(data: bytes) -> Header:
    order = "<" if data[:2] == b"II" else ">"
    big = _u(data, 2, order + "H") == 43
    if big and (_u(data, 4, order + "H") != 8 or _u(data, 6, order + "H") != 0):
        raise BadHeader("its BigTIFF header is damaged")
    ifd = _u(data, 8, order + "Q") if big else _u(data, 4, order + "I")
    count = _u(data, ifd, order + ("Q" if big else "H"))
    entry_size, first = (20, ifd + 8) if big else (12, ifd + 2)
    if count > 4096 or first + count * entry_size > len(data):
        raise BadHeader("its TIFF directory is truncated")
    values: dict[int, list[int]] = {}
    for k in range(count):
        at = first + k * entry_size
        tag, kind = _u(data, at, order + "H"), _u(data, at + 2, order + "H")
        n = _u(data, at + 4, order + ("Q" if big else "I"))
        if tag not in (256, 257, 258, 277, 322, 323) or kind not in _TIFF_TYPES or n < 1 or n > 64:
            continue
        code, size = _TIFF_TYPES[kind]
        field = at + (12 if big else 8)
        where = field if n * size <= (8 if big else 4) else _u(data, field, order + ("Q" if big else "I"))
        found = [_u(data, where + j * size, order + code) for j in range(n)]
        if tag in values and values[tag] != found:
            raise BadHeader(f"its TIFF directory declares tag {tag} twice, differently")
        values[tag] = found
    if 256 not in values or 257 not in values:
        raise BadHeader("its TIFF directory has no image size")
    bits = max(values.get(258, [1]))
    samples = values.get(277, [1])[0]
    header = _positive(Header("TIFF", values[256][0], values[257][0], max(samples, 1), max(1, math.ceil(bits / 8))))
    if 322 in values and 323 in values:  # tiles: the decoder holds one, which must not outgrow the image
        tile = Header("TIFF", values[322][0], values[323][0], header.samples, header.sample_bytes)
        if tile.decoded_bytes() > max(header.decoded_bytes(), 64 << 20):
            raise BadHeader(f"its TIFF tiles ({tile.width}x{tile.height}) are larger than the image")
    return header


def _webp(data: bytes) -> Header:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise BadHeader("its WebP (VP8) frame header is damaged")
        return _positive(Header("WebP", _u(data, 26, "<H") & 0x3FFF, _u(data, 28, "<H") & 0x3FFF, 4))
    if chunk == b"VP8L":
        if data[20:21] != b"\x2f":
            raise BadHeader("its WebP (VP8L) header is damaged")
        bits = _u(data, 21, "<I")
        return Header("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4)
    if chunk == b"VP8X":
        if len(data) < 30:
            raise BadHeader("its WebP header is truncated")
        return Header("WebP", int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1, 4)
    raise BadHeader(f"its WebP chunk {chunk!r} is unknown")


def _bmp(data: bytes) -> Header:
    size = _u(data, 14, "<I")
    if size == 12:  # OS/2 1.x
        width, height, bpp = _u(data, 18, "<H"), _u(data, 20, "<H"), _u(data, 24, "<H")
    elif 40 <= size <= 124:
        width, height, bpp = _u(data, 18, "<i"), abs(_u(data, 22, "<i")), _u(data, 28, "<H")
    else:
        raise BadHeader(f"its BMP header size {size} is unknown")
    return _positive(Header("BMP", width, height, 4 if bpp == 32 else 3))


def read_header(data: bytes) -> Header:
    """The declared format, size and depth; :class:`UnsupportedFormat` or :class:`BadHeader` otherwise."""
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:2] == b"BM":
        return _bmp(data)
    for signature, name in _UNSUPPORTED:
        if data.startswith(signature):
            raise UnsupportedFormat(name)
    if data[:1] == b"P" and data[1:2] in b"1234567" and data[2:3].isspace():
        raise UnsupportedFormat("PNM")
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        raise UnsupportedFormat("AVIF" if brand in (b"avif", b"avis") else "HEIF" if brand in (
            b"heic", b"heix", b"hevc", b"mif1", b"msf1") else "ISO media (video?)")
    raise BadHeader(f"it is not a {', '.join(ACCEPTED[:-1])} or {ACCEPTED[-1]} file")
