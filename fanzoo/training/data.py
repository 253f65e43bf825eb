"""Training examples: a face's crop with its augmentation, as one affine warp, and its heatmap targets.

Geometry follows the predictor: a box becomes (centre, scale) exactly as at inference, and a landmark at
image point p has heatmap coordinate (p - (c - h/2)) * H / h with h = 200 * scale. Heatmap pixel i is
coordinate i + 0.5, as the authors' decoder reads it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..decoding import FLIP_PAIRS
from ..preprocessing import box_to_center_scale, crop_corners
from ..pts import annotated_images, read_pts
from ..registry import Preprocessing
from .augment import Augmentation, degrade, occlude, recolour
from .boxes import detector_like_box, face_key

__all__ = ["Augmentation", "Sample", "crop_matrices", "heatmaps", "load_samples", "make_example"]


@dataclass(frozen=True)
class Sample:
    image: str
    points: np.ndarray  # (68, 2) 0-based
    box: tuple[float, float, float, float]  # detector-like box


def load_samples(folder: Path, model: Mapping[str, Any], detected: Mapping[str, Any] | None = None) -> list[Sample]:
    """Every annotated face of ``folder`` with its training box: the detector's own (``detected``, from
    detections.json) where it found the face, else its typical placement (``model``, boxes.py)."""
    folder = Path(folder)
    boxes = {} if detected is None else detected["boxes"]
    samples = []
    for image, pts_path in annotated_images(folder):
        points = read_pts(pts_path)
        found = boxes.get(face_key(image, folder))
        box = tuple(float(v) for v in found) if found is not None else detector_like_box(points, model)
        samples.append(Sample(str(image), points, box))
    return samples


def affine_rows(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def crop_matrices(box: tuple[float, ...], pre: Preprocessing, angle: float = 0.0, scale_mul: float = 1.0,
                  shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """(image -> crop pixel, image -> heatmap coordinate) 2x3 matrices for a box, with augmentation.

    The crop reproduces the authors' crop geometry (integer corners, then a resize with half-pixel
    centres), and the targets use the decoder's convention, so training sees what inference sees.
    """
    center, scale = box_to_center_scale(box, pre)
    size = math.sqrt((box[2] - box[0]) * (box[3] - box[1]))
    center = center + np.array(shift) * size
    scale *= scale_mul
    res, h = float(pre.input_size), pre.scale_factor * scale
    ul, br = crop_corners(center, scale, pre)
    # the corners are truncated toward zero one by one, so the cut can be a pixel wider than high (or the
    # reverse) before it is resized to a square: each axis has its own factor, as in the inference crop
    kx, ky = res / float(br[0] - ul[0]), res / float(br[1] - ul[1])
    to_crop = np.array([[kx, 0, (0.5 - ul[0]) * kx - 0.5], [0, ky, (0.5 - ul[1]) * ky - 0.5]])
    t = pre.heatmap_size / h
    to_heatmap = np.array([[t, 0, -t * (center[0] - h / 2)], [0, t, -t * (center[1] - h / 2)]])
    rotate = affine_rows(cv2.getRotationMatrix2D((float(center[0]), float(center[1])), angle, 1.0))
    return (affine_rows(to_crop) @ rotate)[:2], (affine_rows(to_heatmap) @ rotate)[:2]


def heatmaps(coords: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(68, 2) heatmap coordinates -> (68, size, size) gaussians peaking at pixel centre c - 0.5."""
    grid = np.arange(size, dtype=np.float32) + 0.5
    gx = np.exp(-((grid[None, :] - coords[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((grid[None, :] - coords[:, 1:]) ** 2) / (2 * sigma**2))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def make_example(sample: Sample, pre: Preprocessing, aug: Augmentation | None, rng: np.random.Generator,
                 image: np.ndarray | None = None,
                 frame: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(3, S, S) float input, (68, H, H) target, (68, 2) heatmap coordinates of the points.

    By default the sample's photo is read. ``image`` with ``frame`` stands in for it: a cut region of the
    photo (crops.py) and the 2x3 matrix from photo to region pixels. The geometry, the authors' integer
    crop corners included, is still worked out in photo pixels, so the example is the photo's.
    """
    if image is None:
        image = cv2.imread(sample.image, cv2.IMREAD_COLOR)[:, :, ::-1]
    angle, scale_mul, shift = 0.0, 1.0, (0.0, 0.0)
    if aug is not None:
        if rng.random() < aug.rotate_p:
            angle = float(rng.uniform(-aug.rotation, aug.rotation))
        scale_mul = float(math.exp(rng.uniform(-1, 1) * math.log(1 + aug.scale)))
        shift = tuple(rng.uniform(-aug.shift, aug.shift, 2))
    to_crop, to_heatmap = crop_matrices(sample.box, pre, angle, scale_mul, shift)
    if frame is not None:
        to_crop = (affine_rows(to_crop) @ np.linalg.inv(affine_rows(frame)))[:2]
    size = pre.input_size
    crop = cv2.warpAffine(np.ascontiguousarray(image), to_crop, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    coords = sample.points @ to_heatmap[:, :2].T + to_heatmap[:, 2]
    if aug is not None and rng.random() < aug.flip:
        crop = crop[:, ::-1]
        coords = coords[FLIP_PAIRS].copy()
        coords[:, 0] = pre.heatmap_size - coords[:, 0]  # pixel i <-> H-1-i, coordinate c = i + 0.5
    if aug is not None:
        crop = degrade(occlude(crop, aug, rng), aug, rng)
    x = crop.astype(np.float32)
    if aug is not None:
        x = recolour(x, aug, rng)
    coords = coords.astype(np.float32)
    target = heatmaps(coords, pre.heatmap_size, aug.sigma if aug else 1.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1) / 255.0, dtype=np.float32), target, coords
