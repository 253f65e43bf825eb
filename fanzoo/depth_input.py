"""The depth network's input: the crop plus one gaussian per landmark, drawn the way face-alignment does."""
from __future__ import annotations

import math

import numpy as np


def _kernel(size: int = 13, sigma: float = 0.25) -> np.ndarray:
    # face-alignment's _gaussian(): sigma is relative to the kernel size (0.25 * 13 = 3.25 px)
    center = 0.5 * size + 0.5
    i = np.arange(size, dtype=np.float64)
    gx = ((i + 1 - center) / (sigma * size)) ** 2 / 2.0
    return np.exp(-(gx[None, :] + gx[:, None])).astype(np.float32)


KERNEL = _kernel()


def draw_gaussian(image: np.ndarray, point: np.ndarray, sigma: int = 2) -> None:
    """Add the kernel around a 1-based point into ``image`` in place, with the authors' border handling."""
    height, width = image.shape
    ul = [math.floor(point[0] - 3 * sigma), math.floor(point[1] - 3 * sigma)]
    br = [math.floor(point[0] + 3 * sigma), math.floor(point[1] + 3 * sigma)]
    if ul[0] > width or ul[1] > height or br[0] < 1 or br[1] < 1:
        return
    g_x = (max(1, -ul[0]), min(br[0], width) - max(1, ul[0]) + max(1, -ul[0]))
    g_y = (max(1, -ul[1]), min(br[1], height) - max(1, ul[1]) + max(1, -ul[1]))
    img_x = (max(1, ul[0]), min(br[0], width))
    img_y = (max(1, ul[1]), min(br[1], height))
    image[img_y[0] - 1:img_y[1], img_x[0] - 1:img_x[1]] += KERNEL[g_y[0] - 1:g_y[1], g_x[0] - 1:g_x[1]]
    np.minimum(image, 1.0, out=image)


def landmark_maps(crop_coords: np.ndarray, size: int = 256) -> np.ndarray:
    """(68, 2) landmarks in crop pixels (heatmap coordinates x 4) -> (68, size, size) float32 maps."""
    maps = np.zeros((len(crop_coords), size, size), dtype=np.float32)
    for j, point in enumerate(crop_coords):
        if point[0] > 0 and point[1] > 0:
            draw_gaussian(maps[j], point)
    return maps


def depth_network_input(crop_input: np.ndarray, heatmap_coords: np.ndarray, stride: int = 4) -> np.ndarray:
    """(3, S, S) crop in [0, 1] and (68, 2) heatmap coordinates -> (71, S, S) input of ResNetDepth."""
    size = crop_input.shape[-1]
    maps = landmark_maps(heatmap_coords.astype(np.float32) * stride, size)
    return np.concatenate([crop_input, maps], axis=0)


def depth_to_image(depth: np.ndarray, scale: float, input_size: int = 256, scale_factor: float = 200.0) -> np.ndarray:
    """ResNetDepth's output is in crop units; the authors rescale it like x and y."""
    return depth * (scale_factor * scale / input_size)
