"""Heatmaps -> landmarks: the authors' arg-max with a quarter-pixel shift, mapped back to the image.

fanzoo keeps sub-pixel floats where face-alignment truncates the final coordinates to int32.
"""
from __future__ import annotations

import numpy as np

from .preprocessing import crop_to_image_matrix

# index of each landmark's mirror image (iBUG 68-point markup), for flipping heatmaps and training data
FLIP_PAIRS = np.array([16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
                       26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 27, 28, 29, 30, 35,
                       34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41,
                       40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63,
                       62, 61, 60, 67, 66, 65])


def flip_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    """Mirror (N, 68, H, W) heatmaps left-right and swap left/right landmarks."""
    return heatmaps[:, FLIP_PAIRS, :, ::-1]


SUBPIXEL_RULES = ("quarter", "gaussian")


def decode_heatmaps(heatmaps: np.ndarray, subpixel: str = "quarter") -> tuple[np.ndarray, np.ndarray]:
    """(N, C, H, W) -> heatmap coordinates (N, C, 2) and peak values (N, C).

    "quarter" follows the authors: the peak pixel, moved 0.25 toward its larger neighbour on each axis
    when it is not on the border, minus 0.5 (so a pixel centre i maps to i + 0.5 - 0.5 + 1 - 1 = i + 0.5).
    "gaussian" fits a parabola to the log of the peak and its two neighbours on each axis: exact for a
    gaussian peak, which is what fanzoo trains its own models to output. On a 48-pixel map the authors'
    rule alone can be off by a quarter pixel, about 2% of the eye-corner distance.
    """
    if subpixel not in SUBPIXEL_RULES:
        raise ValueError(f"unknown sub-pixel rule {subpixel!r}; known: {', '.join(SUBPIXEL_RULES)}")
    n, c, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, c, h * w)
    idx = flat.argmax(axis=-1)
    scores = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    px, py = idx % w, idx // w
    coords = np.stack([px, py], axis=-1).astype(np.float32) + 1.0  # the authors' 1-based pixel index
    if subpixel == "gaussian":
        # each axis on its own: a peak in the first row still has both horizontal neighbours
        for axis, (p, size) in enumerate(((px, w), (py, h))):
            b, k = np.nonzero((p > 0) & (p < size - 1))
            x, y = px[b, k], py[b, k]
            dx, dy = (1, 0) if axis == 0 else (0, 1)
            coords[b, k, axis] += _log_parabola_offset(heatmaps[b, k, y, x], heatmaps[b, k, y - dy, x - dx],
                                                       heatmaps[b, k, y + dy, x + dx])
    else:
        # the authors refine only peaks off the border on both axes
        b, k = np.nonzero((px > 0) & (px < w - 1) & (py > 0) & (py < h - 1))
        x, y = px[b, k], py[b, k]
        diff = np.stack([heatmaps[b, k, y, x + 1] - heatmaps[b, k, y, x - 1],
                         heatmaps[b, k, y + 1, x] - heatmaps[b, k, y - 1, x]], axis=-1)
        coords[b, k] += np.sign(diff).astype(np.float32) * 0.25
    coords -= 0.5
    return coords, scores


def _log_parabola_offset(peak: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The vertex of the parabola through the logs of (before, peak, after), within +-0.5.

    Values at or below zero (a network's output can be) are floored at 1e-3 of the peak, which only
    pulls the vertex toward the peak pixel; a non-positive peak keeps the pixel centre.
    """
    floor = np.maximum(peak * 1e-3, 1e-12)
    centre = np.log(np.maximum(peak, floor))
    lo, hi = np.log(np.maximum(before, floor)), np.log(np.maximum(after, floor))
    curvature = 2 * centre - lo - hi
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature > 1e-12, 0.5 * (hi - lo) / curvature, 0.0)
    return np.clip(np.where(peak > 0, offset, 0.0), -0.5, 0.5).astype(np.float32)


def heatmap_to_image(coords: np.ndarray, center: np.ndarray, scale: float, heatmap_size: int,
                     scale_factor: float = 200.0) -> np.ndarray:
    """(C, 2) heatmap coordinates of one face -> (C, 2) float image coordinates."""
    m = crop_to_image_matrix(center, scale, heatmap_size, scale_factor)
    return coords.astype(np.float64) @ m[:, :2].T + m[:, 2]
