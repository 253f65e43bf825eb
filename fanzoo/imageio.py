"""Read image files as upright uint8 RGB with clear errors and bounded memory; write images atomically.

Memory is bounded before decoding, from what the header declares (``image_headers``): the file's size, and
the bytes the decoded image will take. JPEG, PNG, TIFF, WebP and BMP are read; other formats are refused
as unsupported.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType

import cv2
import numpy as np

from .atomic import atomic_path
from .errors import InputError
from .image_headers import ACCEPTED, BadHeader, Header, UnsupportedFormat, read_header

# Larger images are returned reduced (LoadedImage.scale says by how much) so memory stays bounded.
MAX_PIXELS = 50_000_000
# Only libjpeg can decode at 1/2, 1/4, 1/8 without first holding the full image; anything that would still
# decode to more than this many 8-bit RGB pixels (750 MB; fewer for 16-bit or 4-channel images) is refused
# before decoding.
MAX_FULL_DECODE_PIXELS = 250_000_000
# A file is read whole before decoding; larger ones are refused unread (a 16-bit 45 MP TIFF is 270 MB).
MAX_FILE_BYTES = 512 << 20
_JPEG_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
# Codecs asked to write RGB themselves, which spares a pass over the image (a 2560x2560 PNG: the first
# conversion in a process took 6 to 65 ms). Only these two: OpenCV 4.11's TIFF decoder ignores the request
# for 16-bit colour, so every other format is converted after decoding.
_DECODES_RGB = ("JPEG", "PNG")


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: ``rgb`` is uint8 (H, W, 3), C-contiguous and upright.

    ``scale`` is original pixels per pixel of ``rgb``: 1.0 unless a huge image was decoded reduced, in which
    case a point (x, y) found in ``rgb`` is at (x * scale, y * scale) in the file's full-size image.
    """

    rgb: np.ndarray
    scale: float = 1.0
    path: Path | None = None


def _header(data: bytes, name: str) -> Header:
    try:
        return read_header(data)
    except UnsupportedFormat as exc:
        raise InputError(f"{name} is in an unsupported format ({exc.args[0]}); fanzoo reads "
                         f"{', '.join(ACCEPTED)} (convert it to one of them)") from None
    except BadHeader as exc:
        raise InputError(f"{name} is not a readable image: {exc.args[0]}") from None


def _decode_factor(header: Header, max_pixels: int | None, name: str) -> int:
    """1, or the JPEG reduction (2, 4, 8) that brings the image under ``max_pixels``; refuses what would
    still decode to more than MAX_FULL_DECODE_PIXELS of 8-bit RGB."""
    factor = 1
    if max_pixels is not None and header.pixels > max_pixels and header.format == "JPEG":
        factor = next((f for f in (2, 4) if header.pixels <= max_pixels * f * f), 8)
    if header.decoded_bytes(factor) > 3 * MAX_FULL_DECODE_PIXELS:
        depth = f"{8 * header.sample_bytes}-bit " if header.sample_bytes > 1 else ""
        raise InputError(f"{name} is {header.width}x{header.height} {depth}pixels, too large to decode "
                         f"(limit {MAX_FULL_DECODE_PIXELS} 8-bit RGB pixels for {header.format}); "
                         "downscale it" + (" or save it as JPEG" if header.format != "JPEG" else ""))
    return factor


def _to_rgb8(image: np.ndarray, data: np.ndarray, max_pixels: int | None, order: int) -> tuple[np.ndarray, int]:
    """uint8 RGB, reduced by a power of two when over ``max_pixels`` (before the conversions, which then
    work on the small image). ``order`` is the decode's IMREAD_COLOR_RGB flag, or 0: the codec wrote BGR."""
    if image.dtype not in (np.uint8, np.uint16):  # float or 32-bit TIFF and the like: OpenCV's own 8-bit conversion
        del image
        image = cv2.imdecode(data, cv2.IMREAD_COLOR | order)
        if image is None:
            raise InputError("cannot be converted to 8 bits")
    extra = 1
    pixels = image.shape[0] * image.shape[1]
    if max_pixels is not None and pixels > max_pixels:
        # powers of two, like libjpeg's reduced decoding, so every format maps back the same way;
        # fx/fy (not dsize) so that the mapping back is exactly x * extra
        extra = 2 ** math.ceil(math.log2(math.sqrt(pixels / max_pixels)))
        image = cv2.resize(image, None, fx=1 / extra, fy=1 / extra, interpolation=cv2.INTER_AREA)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)  # keeps the full range (65535 -> 255); clipping would blow it out
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), extra
    if order:  # IMREAD_COLOR always gives 3 channels
        return image, extra
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB), extra


def decode_image_bytes(data: bytes, name: str = "image",
                       max_pixels: int | None | EllipsisType = ...) -> LoadedImage:
    """Decode an encoded JPEG, PNG, TIFF, WebP or BMP image to upright uint8 RGB.

    Grey images get 3 equal channels; an alpha channel is dropped (the stored colour is kept, not composited);
    16-bit samples are scaled to 8 bits (>> 8); the JPEG EXIF orientation is applied. Images over
    ``max_pixels`` (``...``: the module's ``MAX_PIXELS`` at call time; None: never) are reduced by a power
    of two, reported as ``scale``. Raises :class:`InputError` naming ``name`` for empty, corrupt, truncated,
    oversized or non-image data, and for other formats.
    """
    if max_pixels is ...:
        max_pixels = MAX_PIXELS
    if not data:
        raise InputError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{name} is {len(data) / 2 ** 30:.1f} GiB, more than the {MAX_FILE_BYTES >> 20} MiB "
                         "limit for an image file")
    header = _header(data, name)
    factor = _decode_factor(header, max_pixels, name)
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR (unlike IMREAD_UNCHANGED) applies the EXIF orientation and turns grey/alpha into BGR;
    # IMREAD_ANYDEPTH keeps 16-bit samples so they are scaled rather than left to the codec
    order = cv2.IMREAD_COLOR_RGB if header.format in _DECODES_RGB else 0
    flags = (_JPEG_REDUCED[factor] if factor > 1 else cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR) | order
    try:
        image = cv2.imdecode(buffer, flags)
        if image is None or image.size == 0:
            raise InputError(f"{name} is not a readable image (corrupt or truncated {header.format})")
        expected = math.ceil(header.width / factor) * math.ceil(header.height / factor)
        if image.shape[0] * image.shape[1] > expected:  # the decoder read another size than the header says
            raise InputError(f"{name} is not a readable image (its {header.format} header is inconsistent)")
        rgb, extra = _to_rgb8(image, buffer, max_pixels, order)
    except cv2.error as exc:  # some codecs raise instead of returning None
        raise InputError(f"{name} is not a readable image ({exc.err})") from None
    except MemoryError:
        raise InputError(f"{name}: not enough memory to decode its {header.width}x{header.height} pixels") from None
    except InputError as exc:
        if str(exc).startswith(name):
            raise
        raise InputError(f"{name} {exc}") from None
    return LoadedImage(np.ascontiguousarray(rgb), float(factor * extra), None)


def load_image(path: Path | str, max_pixels: int | None | EllipsisType = ...) -> LoadedImage:
    """Read an image file (see :func:`decode_image_bytes`); raises :class:`InputError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused unread: an 8 GB file must not become an 8 GB bytes object
            raise InputError(f"{path} is {size / 2 ** 30:.1f} GiB, more than the {MAX_FILE_BYTES >> 20} MiB "
                             "limit for an image file")
        with open(path, "rb") as f:  # bytes + imdecode, not imread: works for any path on every OS
            data = f.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
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
