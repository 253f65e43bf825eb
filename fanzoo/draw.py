"""Annotated images: boxes and landmarks; for 3D, points coloured from near (red) to far (blue)."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .predictor import Face


def depth_colors(z: np.ndarray) -> list[tuple[int, int, int]]:
    """RGB colours for depths: smaller z (nearer the camera in FAN's convention) is red."""
    span = float(z.max() - z.min()) or 1.0
    levels = ((z - z.min()) / span * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(255 - levels.reshape(-1, 1), cv2.COLORMAP_JET).reshape(-1, 3)
    return [tuple(int(c) for c in px[::-1]) for px in bgr]


def annotate(image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A copy of the uint8 RGB image with each face's box and landmarks drawn."""
    out = image.copy()
    radius = max(1, round(max(image.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 200, 255), max(1, radius // 2))
        points = face.landmarks
        colors = depth_colors(points[:, 2]) if points.shape[1] == 3 else [(0, 255, 0)] * len(points)
        for (x, y), color in zip(points[:, :2], colors):
            cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, lineType=cv2.LINE_AA)
    return out
