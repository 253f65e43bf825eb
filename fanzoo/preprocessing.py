"""The authors' face crop: detector box -> (centre, scale) -> square crop, reproduced to the pixel.

Parity with face-alignment matters more than elegance here: the integer truncations of its crop
corners and the bilinear resize of the padded crop are kept exactly, because a one-pixel shift of the
crop moves the landmarks.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .errors import InputError
from .registry import Preprocessing

DEFAULT = Preprocessing()


def box_to_center_scale(box: Sequence[float], pre: Preprocessing = DEFAULT) -> tuple[np.ndarray, float]:
    """(x1, y1, x2, y2) -> centre moved up by 0.12 of the box height, scale = (w + h) / 195."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    if not (np.isfinite([x1, y1, x2, y2]).all() and x2 > x1 and y2 > y1):
        raise InputError(f"a face box must be x1,y1,x2,y2 with x2 > x1 and y2 > y1, got {tuple(box[:4])}")
    # (-1e308, 1e308) is finite but its width is not, and numpy would warn on the way to NaN
    if not np.isfinite([x2 - x1, y2 - y1]).all():
        raise InputError(f"a face box's width and height must be finite numbers, got {tuple(box[:4])}")
    center = np.array([x2 - (x2 - x1) / 2.0, y2 - (y2 - y1) / 2.0])
    center[1] -= (y2 - y1) * pre.center_y_offset
    scale = (x2 - x1 + y2 - y1) / pre.reference_scale
    return center, scale


def crop_to_image_matrix(center: np.ndarray, scale: float, resolution: float,
                         scale_factor: float = 200.0) -> np.ndarray:
    """2x3 matrix from crop (or heatmap) pixel coordinates back to image coordinates."""
    h = scale_factor * scale
    return np.array([[h / resolution, 0.0, center[0] - h / 2.0],
                     [0.0, h / resolution, center[1] - h / 2.0]])


def _corner(point: tuple[float, float], center: np.ndarray, scale: float, resolution: float,
            scale_factor: float) -> np.ndarray:
    # the authors compute this in float32 with an inverted 3x3 matrix, then truncate toward zero. The matrix is a
    # scale and a shift, so its inverse is written out: LAPACK's solve divides exactly the same way (equal bit for
    # bit; tests/test_preprocessing.py checks it), and np.linalg.inv's thread start-up cost several milliseconds a
    # face while ONNX Runtime's threads held the cores
    h = scale_factor * scale
    a = np.float32(resolution / h)
    shift = np.array([resolution * (-center[0] / h + 0.5), resolution * (-center[1] / h + 0.5)], dtype=np.float32)
    inverse = np.eye(3, dtype=np.float32)
    inverse[0, 0] = inverse[1, 1] = np.float32(1.0) / a
    inverse[:2, 2] = -shift / a
    p = np.array([point[0], point[1], 1.0], dtype=np.float32)
    return (inverse @ p)[:2].astype(np.int32)


def crop_corners(center: np.ndarray, scale: float, pre: Preprocessing = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """The authors' integer crop corners in photo pixels: the crop is photo columns ul[0] .. br[0] - 1 and
    rows ul[1] .. br[1] - 1 (0-based; black outside the photo), resized to the input size."""
    res = float(pre.input_size)
    return (_corner((1, 1), center, scale, res, pre.scale_factor),
            _corner((res, res), center, scale, res, pre.scale_factor))


# The crop is cut from a zero-padded copy of the region around the box (the authors' way, kept for parity);
# a box far larger than the image would make that copy enormous, so it is refused instead.
MAX_REGION_TO_IMAGE = 4


def check_region(image: np.ndarray, center: np.ndarray, scale: float, pre: Preprocessing = DEFAULT) -> None:
    """:class:`InputError` unless the crop region is finite, overlaps the image, and is at most
    ``MAX_REGION_TO_IMAGE`` times the image's longer side."""
    height, width = image.shape[:2]
    side = pre.scale_factor * scale
    if not (np.isfinite(side) and np.isfinite(center).all()):
        raise InputError("the face box is not finite")
    if side > MAX_REGION_TO_IMAGE * max(height, width) + 2 * pre.input_size:
        raise InputError(f"the face box is far larger than the {width}x{height} image "
                         f"(its crop would be {side:.3g} pixels wide)")
    if center[0] + side / 2 < 0 or center[0] - side / 2 > width or \
            center[1] + side / 2 < 0 or center[1] - side / 2 > height:
        raise InputError(f"the face box lies outside the {width}x{height} image")


def crop(image: np.ndarray, center: np.ndarray, scale: float, pre: Preprocessing = DEFAULT) -> np.ndarray:
    """uint8 HxWx3 image -> uint8 (S, S, 3) crop, S = input size, zero outside the image."""
    check_region(image, center, scale, pre)
    ul, br = crop_corners(center, scale, pre)
    height, width = image.shape[:2]
    side_y, side_x = int(br[1] - ul[1]), int(br[0] - ul[0])
    if side_x <= 0 or side_y <= 0:
        raise InputError("the face box is too small to crop")
    padded = np.zeros((side_y, side_x, image.shape[2]), dtype=np.uint8)
    new_x = (max(1, -ul[0] + 1), min(br[0], width) - ul[0])
    new_y = (max(1, -ul[1] + 1), min(br[1], height) - ul[1])
    old_x = (max(1, ul[0] + 1), min(br[0], width))
    old_y = (max(1, ul[1] + 1), min(br[1], height))
    if old_x[1] >= old_x[0] and old_y[1] >= old_y[0]:
        padded[new_y[0] - 1:new_y[1], new_x[0] - 1:new_x[1]] = image[old_y[0] - 1:old_y[1], old_x[0] - 1:old_x[1]]
    return cv2.resize(padded, dsize=(pre.input_size, pre.input_size), interpolation=cv2.INTER_LINEAR)


def to_network_input(crops: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 (S, S, 3) crops -> float32 (N, 3, S, S) in [0, 1]."""
    # order="C": a transposed view would be copied again by every runtime that needs contiguous input
    batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32, order="C")
    batch /= 255.0
    return batch
