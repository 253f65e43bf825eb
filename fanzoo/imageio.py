"""Read any image file as upright uint8 RGB with clear errors and bounded memory; write images atomically."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType

import cv2
import numpy as np

from .atomic import atomic_path
from .errors import InputError

# Larger images are returned reduced (LoadedImage.scale says by how much) so memory stays bounded.
MAX_PIXELS = 50_000_000
# Only libjpeg can decode at 1/2, 1/4, 1/8 without first holding the full image; other formats whose
# header says they are larger than this are refused before decoding (8-bit RGB: 750 MB).
MAX_FULL_DECODE_PIXELS = 250_000_000
_JPEG_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: ``rgb`` is uint8 (H, W, 3), C-contiguous and upright.

    ``scale`` is original pixels per pixel of ``rgb``: 1.0 unless a huge image was decoded reduced, in which
    case a point (x, y) found in ``rgb`` is at (x * scale, y * scale) in the file's full-size image.
    """

    rgb: np.ndarray
    scale: float = 1.0
    path: Path | None = None


def _header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from a PNG or JPEG header without decoding, or None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _JPEG_SOF:
            return "jpeg", int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _to_rgb8(bgr: np.ndarray, data: np.ndarray) -> np.ndarray:
    if bgr.dtype == np.uint16:
        bgr = (bgr >> 8).astype(np.uint8)  # keeps the full range (65535 -> 255); clipping would blow it out
    elif bgr.dtype != np.uint8:  # float or 32-bit TIFF and the like: OpenCV's own 8-bit conversion
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr.ndim == 2 or bgr.shape[2] == 1:
        return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB if bgr.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def decode_image_bytes(data: bytes, name: str = "image",
                       max_pixels: int | None | EllipsisType = ...) -> LoadedImage:
    """Decode an encoded image (any format OpenCV reads) to upright uint8 RGB.

    Grey images get 3 equal channels; an alpha channel is dropped (the stored colour is kept, not composited);
    16-bit samples are scaled to 8 bits (>> 8); the JPEG EXIF orientation is applied. Images over
    ``max_pixels`` (``...``: the module's ``MAX_PIXELS`` at call time; None: never) are reduced by a power
    of two, reported as ``scale``. Raises :class:`InputError` naming ``name`` for empty, corrupt, truncated
    or non-image data.
    """
    if max_pixels is ...:
        max_pixels = MAX_PIXELS
    if not data:
        raise InputError(f"{name} is empty (0 bytes)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    header = _header_size(data)
    factor = 1
    # IMREAD_COLOR (unlike IMREAD_UNCHANGED) applies the EXIF orientation and turns grey/alpha into BGR;
    # IMREAD_ANYDEPTH keeps 16-bit samples so they are scaled rather than left to the codec
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR
    if header is not None and max_pixels is not None:
        kind, width, height = header
        pixels = width * height
        if kind == "jpeg" and pixels > max_pixels:
            factor = next((f for f in (2, 4) if pixels <= max_pixels * f * f), 8)
            flags = _JPEG_REDUCED[factor]
        elif kind != "jpeg" and pixels > MAX_FULL_DECODE_PIXELS:
            raise InputError(f"{name} is {width}x{height} pixels, too large to decode "
                             f"(limit {MAX_FULL_DECODE_PIXELS} pixels for {kind}); downscale it or save it as JPEG")
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as exc:  # some codecs raise instead of returning None
        raise InputError(f"{name} is not a readable image ({exc.err})") from None
    if image is None or image.size == 0:
        raise InputError(f"{name} is not a readable image (corrupt, truncated, or not an image format)")
    rgb = _to_rgb8(image, buffer)
    pixels = rgb.shape[0] * rgb.shape[1]
    if max_pixels is not None and pixels > max_pixels:
        # powers of two, like libjpeg's reduced decoding, so every format maps back the same way
        extra = 2 ** math.ceil(math.log2(math.sqrt(pixels / max_pixels)))
        # fx/fy (not dsize) so that the mapping back is exactly x * extra
        rgb = cv2.resize(rgb, None, fx=1 / extra, fy=1 / extra, interpolation=cv2.INTER_AREA)
        factor *= extra
    return LoadedImage(np.ascontiguousarray(rgb), float(factor), None)


def load_image(path: Path | str, max_pixels: int | None | EllipsisType = ...) -> LoadedImage:
    """Read an image file (see :func:`decode_image_bytes`); raises :class:`InputError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        data = path.read_bytes()  # bytes + imdecode, not imread: works for any path on every OS
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    loaded = decode_image_bytes(data, str(path), max_pixels)
    return LoadedImage(loaded.rgb, loaded.scale, path)


def read_image(path: Path | str, max_pixels: int | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file, upright and at full size by default.

    Full size because a caller that only gets the array cannot map coordinates back from a reduced image;
    use :func:`load_image` for bounded memory on untrusted input.
    """
    loaded = load_image(path, max_pixels)
    return loaded.rgb


def can_write_image(path: Path | str) -> bool:
    """Whether OpenCV can write an image with this path's suffix (PNG when there is none)."""
    return bool(cv2.haveImageWriter("x" + (Path(path).suffix.lower() or ".png")))


def write_image(path: Path | str, rgb: np.ndarray) -> None:
    """Write a uint8 RGB (or grey) image atomically; the format follows the suffix (PNG when there is none).

    :class:`InputError` for a bad array or a suffix OpenCV cannot write, OSError when the write itself fails.
    """
    path = Path(path)
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or not (
            rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)) or rgb.size == 0:
        raise InputError(f"cannot write {path}: expected a non-empty uint8 (H, W, 3) RGB array, "
                         f"got {getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}")
    suffix = path.suffix.lower() or ".png"
    if not can_write_image(path):
        raise InputError(f"cannot write {path}: {suffix!r} is not an image format OpenCV can write")
    bgr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    # the temporary file carries the same suffix: cv2.imwrite picks the format from it
    with atomic_path(path, suffix=suffix) as tmp:
        try:
            ok = cv2.imwrite(str(tmp), bgr)
        except cv2.error as exc:
            raise InputError(f"cannot write {path} as {suffix!r}: {exc.err}") from None
        if not ok:
            raise OSError(f"cannot write {path} (disk full or no permission?)")
