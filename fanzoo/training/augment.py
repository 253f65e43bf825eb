"""Per-example augmentation: the recipe's ranges (Augmentation) and the pixel-level changes made to a crop.

Geometric changes (flip, rotation, box scale and shift) are folded into the crop's affine matrix by
data.make_example; this module holds the ones that change pixels only: occlusion, blur, JPEG and colour.
Each draws from the example's own generator only when its probability is non-zero, so a recipe without
them draws exactly what it drew before they existed.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """Random changes per training face. The box jitter (scale, shift) stands for the spread of detector
    boxes around the mean detector-like box; rotation covers tilted heads that 300-W has few of."""

    flip: float = 0.5  # probability; landmarks swap sides with FLIP_PAIRS
    rotation: float = 30.0  # degrees, uniform in [-r, r], applied with probability rotate_p
    rotate_p: float = 0.6
    scale: float = 0.12  # box size jitter, log-uniform in [1/(1+s), 1+s]
    shift: float = 0.06  # box centre jitter, in box sizes
    colour: float = 0.25  # per-channel gain in [1-c, 1+c], brightness offset +-c*64
    # Target gaussian, in heatmap pixels. The decoder takes the arg-max and nudges it 0.25 px toward the
    # larger neighbour, so what matters is a peak whose top pixel and neighbour order are unambiguous:
    # with sigma 1 a neighbour holds 0.61 of the peak, with sigma 2 0.88, which prediction noise flips
    # easily. Sigma 1 still spreads the gradient over ~3x3 pixels, and at 48 px maps (outer-eye-corner
    # distance ~13.5 px) it is 0.07 of that distance: tight enough that a peak on one landmark does not
    # merge with its neighbours' along the jaw and lips.
    sigma: float = 1.0
    # pixel-level changes (0 = off): the hard cases of the test photos that 1912 faces show too rarely
    occlusion: float = 0.0  # probability of one rectangle of noise or flat colour over the crop
    occlusion_size: tuple[float, float] = (0.15, 0.4)  # its sides, in crop sides
    blur: float = 0.0  # probability of a gaussian blur, sigma uniform in blur_sigma crop pixels
    blur_sigma: tuple[float, float] = (0.5, 2.0)
    jpeg: float = 0.0  # probability of a JPEG round trip at a quality uniform in jpeg_quality
    jpeg_quality: tuple[int, int] = (20, 80)
    contrast: float = 0.0  # contrast factor in [1-c, 1+c] around the crop's mean grey
    grey: float = 0.0  # probability of turning the crop grey (3 equal channels)


def occlude(crop: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """One rectangle over ``crop`` (uint8 (S, S, 3)), filled with noise or one colour. Landmarks under it
    keep their targets: the network learns to place hidden points from the visible face."""
    if not aug.occlusion or rng.random() >= aug.occlusion:
        return crop
    size = crop.shape[0]
    w, h = (int(round(v * size)) for v in rng.uniform(*aug.occlusion_size, 2))
    x0, y0 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
    crop = crop.copy()
    if rng.random() < 0.5:
        crop[y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        crop[y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, 3, dtype=np.uint8)
    return crop


def degrade(crop: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Blur and JPEG artefacts, as in small, soft or heavily compressed photos."""
    if aug.blur and rng.random() < aug.blur:
        crop = cv2.GaussianBlur(crop, (0, 0), float(rng.uniform(*aug.blur_sigma)))
    if aug.jpeg and rng.random() < aug.jpeg:
        quality = int(rng.integers(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1))
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(crop), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode a training crop")
        crop = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # channel order is kept: no colour conversion
    return crop


def recolour(x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Per-channel gain, brightness, then contrast and greyscale, on a float (S, S, 3) crop in [0, 255]."""
    gain = rng.uniform(1 - aug.colour, 1 + aug.colour, 3).astype(np.float32)
    x = x * gain + rng.uniform(-aug.colour, aug.colour) * 64
    if aug.contrast:
        factor = np.float32(rng.uniform(1 - aug.contrast, 1 + aug.contrast))
        x = (x - x.mean()) * factor + x.mean()
    if aug.grey and rng.random() < aug.grey:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(x, 0, 255)
