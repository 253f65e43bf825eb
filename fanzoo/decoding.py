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


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, H, W) -> heatmap coordinates (N, C, 2) and peak values (N, C).

    Coordinates follow the authors: the peak pixel, moved 0.25 toward its larger neighbour on each axis
    when it is not on the border, minus 0.5 (so a pixel centre i maps to i + 0.5 - 0.5 + 1 - 1 = i + 0.5).
    """
    n, c, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, c, h * w)
    idx = flat.argmax(axis=-1)
    scores = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    px, py = idx % w, idx // w
    coords = np.stack([px, py], axis=-1).astype(np.float32) + 1.0  # the authors' 1-based pixel index
    inside = (px > 0) & (px < w - 1) & (py > 0) & (py < h - 1)
    b, k = np.nonzero(inside)
    x, y = px[b, k], py[b, k]
    diff = np.stack([heatmaps[b, k, y, x + 1] - heatmaps[b, k, y, x - 1],
                     heatmaps[b, k, y + 1, x] - heatmaps[b, k, y - 1, x]], axis=-1)
    coords[b, k] += np.sign(diff).astype(np.float32) * 0.25
    coords -= 0.5
    return coords, scores


def heatmap_to_image(coords: np.ndarray, center: np.ndarray, scale: float, heatmap_size: int,
                     scale_factor: float = 200.0) -> np.ndarray:
    """(C, 2) heatmap coordinates of one face -> (C, 2) float image coordinates."""
    m = crop_to_image_matrix(center, scale, heatmap_size, scale_factor)
    return coords.astype(np.float64) @ m[:, :2].T + m[:, 2]
