"""Read any image file as upright uint8 RGB, with clear errors; write images atomically."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import atomic_path
from .errors import InputError

# Larger images are decoded at 1/2, 1/4 or 1/8 size so memory stays bounded; landmarks are mapped back.
MAX_PIXELS = 40_000_000
_REDUCED = ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # uint8 (H, W, 3), C-contiguous
    scale: float  # original pixels per pixel of ``rgb`` (1.0 unless a huge image was decoded reduced)
    path: Path | None = None


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding, or None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
            i += 2 + length
    return None


def _to_rgb8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # keep the full range: 65535 -> 255
    elif image.dtype != np.uint8:
        lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
        image = ((image - lo) / ((hi - lo) or 1.0) * 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:  # alpha dropped: the colour channels are what the network sees
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.shape[2] == 2:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_image_bytes(data: bytes, name: str = "image", max_pixels: int | None = MAX_PIXELS) -> LoadedImage:
    if not data:
        raise InputError(f"{name} is empty (0 bytes)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    size = _header_size(data)
    factor = 1
    if max_pixels is not None and size is not None and size[0] * size[1] > max_pixels:
        for factor, flag in _REDUCED:
            if size[0] * size[1] / factor**2 <= max_pixels:
                break
        image = cv2.imdecode(buffer, flag)  # colour, EXIF orientation applied
    else:
        # IMREAD_ANYDEPTH keeps 16-bit data for proper scaling; IMREAD_COLOR applies EXIF orientation
        image = cv2.imdecode(buffer, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError(f"{name} is not a readable image (corrupt, truncated, or not an image format)")
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels * 1.01:
        raise InputError(f"{name} is {image.shape[1]}x{image.shape[0]} pixels, more than fanzoo decodes "
                         f"({max_pixels} pixels); downscale it first")
    return LoadedImage(np.ascontiguousarray(_to_rgb8(image)), float(factor), None)


def load_image(path: Path | str, max_pixels: int | None = MAX_PIXELS) -> LoadedImage:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    loaded = decode_image_bytes(data, str(path), max_pixels)
    return LoadedImage(loaded.rgb, loaded.scale, path)


def read_image(path: Path | str) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file, upright."""
    return load_image(path).rgb


def write_image(path: Path | str, rgb: np.ndarray) -> None:
    path = Path(path)
    suffix = path.suffix.lower() or ".png"
    with atomic_path(path, suffix=suffix) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise InputError(f"cannot write {path}: unsupported image format {suffix!r}")
