"""Every image comes out RGB, whichever way it was decoded.

JPEG and PNG are decoded straight to RGB (OpenCV's IMREAD_COLOR_RGB); other formats are decoded to BGR and
converted. A codec that ignored the request would hand the network swapped channels without any error, so
every PNG colour type at every bit depth it allows (and palettes at 1, 2, 4 and 8 bits), and JPEG in colour,
grey, CMYK and reduced, are checked against pixels known independently: the ones written (lossless), or
OpenCV's BGR decode of the same bytes, converted (JPEG). The grey cases check the expansion to three
channels; the colour and palette cases are the ones a swap would fail.
"""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from fanzoo import imageio

from .test_imageio import jpeg_bytes, pattern

RNG = np.random.default_rng(7)
COLOUR = RNG.integers(0, 256, (9, 13, 3), dtype=np.uint8)


def png(rows: np.ndarray, depth: int, color_type: int, palette: np.ndarray | None = None) -> bytes:
    """A PNG written by hand: ``rows`` holds one sample per entry (packed here below 8 bits)."""
    height, width = rows.shape[:2]
    samples = rows.reshape(height, -1)
    if depth < 8:
        samples = np.packbits(np.unpackbits(samples.astype(np.uint8)[..., None], axis=-1)[..., -depth:]
                              .reshape(height, -1), axis=1)
    data = samples.astype(">u2" if depth == 16 else "u1")
    raw = b"".join(b"\x00" + row.tobytes() for row in data)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + tag + body + zlib.crc32(tag + body).to_bytes(4, "big")

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))
    if palette is not None:
        body += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _grey(depth: int) -> tuple[bytes, np.ndarray]:
    top = 2 ** depth - 1
    values = RNG.integers(0, top + 1, (9, 13), dtype=np.uint16)
    as8 = (values.astype(np.uint32) * 255 // top) if depth <= 8 else values >> 8
    return png(values, depth, 0), np.repeat(as8.astype(np.uint8)[..., None], 3, axis=2)


def _palette(depth: int) -> tuple[bytes, np.ndarray]:
    colours = RNG.integers(0, 256, (2 ** depth, 3), dtype=np.uint8)
    index = RNG.integers(0, 2 ** depth, (9, 13), dtype=np.uint8)
    return png(index, depth, 3, colours), colours[index]


def _grey_alpha16() -> tuple[bytes, np.ndarray]:
    deep = RNG.integers(0, 65536, (9, 13, 2), dtype=np.uint16)
    return png(deep, 16, 4), np.repeat((deep[..., :1] >> 8).astype(np.uint8), 3, axis=2)


def _colour16(alpha: bool) -> tuple[bytes, np.ndarray]:
    deep = RNG.integers(0, 65536, (9, 13, 4 if alpha else 3), dtype=np.uint16)
    return png(deep, 16, 6 if alpha else 2), (deep[..., :3] >> 8).astype(np.uint8)


PNGS = {
    "grey-1bit": lambda: _grey(1),
    "grey-2bit": lambda: _grey(2),
    "grey-4bit": lambda: _grey(4),
    "grey-8bit": lambda: _grey(8),
    "grey-16bit": lambda: _grey(16),
    "rgb-8bit": lambda: (png(COLOUR, 8, 2), COLOUR),
    "rgb-16bit": lambda: _colour16(alpha=False),
    "palette-1bit": lambda: _palette(1),
    "palette-2bit": lambda: _palette(2),
    "palette-4bit": lambda: _palette(4),
    "palette-8bit": lambda: _palette(8),
    "grey-alpha-8bit": lambda: (png(np.stack([COLOUR[..., 0], COLOUR[..., 1]], axis=2), 8, 4),
                                np.repeat(COLOUR[..., :1], 3, axis=2)),
    "grey-alpha-16bit": _grey_alpha16,
    "rgba-8bit": lambda: (png(np.concatenate([COLOUR, COLOUR[..., :1]], axis=2), 8, 6), COLOUR),
    "rgba-16bit": lambda: _colour16(alpha=True),
}


@pytest.mark.parametrize("kind", sorted(PNGS))
def test_every_png_colour_type_and_depth_comes_out_rgb(kind: str) -> None:
    data, expected = PNGS[kind]()
    np.testing.assert_array_equal(imageio.decode_image_bytes(data, kind).rgb, expected)


def bgr_decode_converted(data: bytes, flags: int) -> np.ndarray:
    """OpenCV's default (BGR) decode of the same bytes, converted: the order every earlier fanzoo used."""
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), flags), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("grey", [False, True], ids=["colour", "grey"])
def test_jpeg_comes_out_rgb(grey: bool) -> None:
    image = pattern()
    if grey:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        assert ok
        data = encoded.tobytes()
    else:
        data = jpeg_bytes(image)
    rgb = imageio.decode_image_bytes(data).rgb
    np.testing.assert_array_equal(rgb, bgr_decode_converted(data, cv2.IMREAD_COLOR))
    if not grey:
        assert rgb[8, 8, 0] > 200 and rgb[8, 8, 2] < 60  # the top left quadrant is red, not blue


def test_reduced_jpeg_comes_out_rgb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1_000)
    data = jpeg_bytes(pattern(64, 96))
    loaded = imageio.decode_image_bytes(data)
    assert loaded.scale == 4.0
    np.testing.assert_array_equal(loaded.rgb, bgr_decode_converted(data, cv2.IMREAD_REDUCED_COLOR_4))


def test_cmyk_jpeg_comes_out_rgb() -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow writes the CMYK JPEG; it is not installed")
    import io

    out = io.BytesIO()
    image_module.fromarray(pattern()).convert("CMYK").save(out, "JPEG", quality=95)
    data = out.getvalue()
    rgb = imageio.decode_image_bytes(data).rgb
    np.testing.assert_array_equal(rgb, bgr_decode_converted(data, cv2.IMREAD_COLOR))
    assert rgb[8, 8, 0] > 200 and rgb[8, 8, 2] < 60


@pytest.mark.parametrize("suffix", [".tiff", ".webp", ".bmp"])
def test_formats_converted_after_decoding_come_out_rgb(suffix: str) -> None:
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(COLOUR, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    np.testing.assert_array_equal(imageio.decode_image_bytes(encoded.tobytes()).rgb, COLOUR)


def test_16_bit_colour_tiff_comes_out_rgb() -> None:
    """The case that keeps TIFF out of the codecs asked for RGB: OpenCV 4.11 ignores the request there."""
    deep = RNG.integers(0, 65536, (9, 13, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(".tiff", deep[..., ::-1])
    assert ok
    np.testing.assert_array_equal(imageio.decode_image_bytes(encoded.tobytes()).rgb, (deep >> 8).astype(np.uint8))
