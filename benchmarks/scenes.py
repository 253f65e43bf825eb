"""Synthetic scenes built from a real photo: N copies of one face in a grid, with their known boxes."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "examples" / "images" / "astronaut.jpg"
FACE_BOX = np.array([179.0, 83.0, 266.0, 170.0])  # dlib HOG's box on the photo


def tiled(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image holding the photo n times (grid), and the (n, 4) face boxes."""
    photo = cv2.imread(str(PHOTO))[:, :, ::-1]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = photo.shape[:2]
    canvas = np.zeros((rows * h, cols * w, 3), np.uint8)
    boxes = []
    for k in range(n):
        r, c = divmod(k, cols)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = photo
        boxes.append(FACE_BOX + [c * w, r * h, c * w, r * h])
    return canvas, np.array(boxes)


def resized(long_side: int) -> np.ndarray:
    photo = cv2.imread(str(PHOTO))[:, :, ::-1]
    scale = long_side / max(photo.shape[:2])
    return np.ascontiguousarray(cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR))
