"""What users may pass as an image (a path, or a uint8 array in any common layout), turned into uint8 RGB."""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import InputError

ImageLike = str | PathLike | np.ndarray
Channels = Literal["rgb", "bgr"]
CHANNEL_ORDERS = ("rgb", "bgr")


@dataclass(frozen=True)
class PreparedImage:
    """uint8 (H, W, 3) RGB and how it maps to the caller's pixels: a point (x, y) here is at
    (x * scale, y * scale) in the original (scale > 1 only for a huge file decoded reduced)."""

    rgb: np.ndarray
    scale: float = 1.0
    path: Path | None = None

    @property
    def original_size(self) -> tuple[int, int]:
        """(width, height) in the caller's pixels."""
        height, width = self.rgb.shape[:2]
        return int(round(width * self.scale)), int(round(height * self.scale))


def array_to_rgb(image: np.ndarray, channels: Channels = "rgb") -> np.ndarray:
    """A uint8 array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as C-contiguous (H, W, 3) RGB.

    ``channels="bgr"`` says the colour channels are in OpenCV's order (``cv2.imread``): without it a BGR
    array would be taken for RGB, and landmarks move by about 1.4 px on average. Grey gets three equal
    channels; alpha is dropped (the stored colour is kept, as when reading a file).
    """
    if channels not in CHANNEL_ORDERS:
        raise InputError(f"channels must be 'rgb' or 'bgr', got {channels!r}")
    if not isinstance(image, np.ndarray):
        raise InputError(f"an image is a path or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        hint = " (for floats in [0, 1]: (image * 255).round().astype(np.uint8))" if image.dtype.kind == "f" else ""
        raise InputError(f"image arrays must be uint8, got {image.dtype}{hint}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if image.size == 0:
            raise InputError(f"the image is empty: shape {image.shape}")
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InputError(f"image arrays must be (H, W) grey, (H, W, 3) colour or (H, W, 4) with alpha; "
                         f"got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"the image is empty: shape {image.shape}")
    colour = image[:, :, :3]
    if channels == "bgr":
        colour = colour[:, :, ::-1]
    return np.ascontiguousarray(colour)


def prepare_image(image: ImageLike, channels: Channels = "rgb") -> PreparedImage:
    """A path is read with bounded memory (huge files come back reduced, with their scale); an array is
    converted with :func:`array_to_rgb`. ``channels`` applies to arrays only: files are always decoded to RGB."""
    if isinstance(image, (str, PathLike)):
        from .imageio import load_image

        loaded = load_image(Path(image))
        return PreparedImage(loaded.rgb, loaded.scale, loaded.path)
    return PreparedImage(array_to_rgb(image, channels))
