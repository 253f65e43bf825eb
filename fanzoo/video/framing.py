"""The box a landmark model expects around a face, placed from that face's landmarks (for tracking).

Stands in for ``fanzoo.detection.framing`` until it lands on main; same convention: a framing is the box
centre minus the landmark-box centre (dx, dy) and the box sides (w, h), in units of the landmark box's size
sqrt(width * height).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..detection import FaceBox
from ..errors import InputError


@dataclass(frozen=True)
class Framing:
    dx: float
    dy: float
    w: float
    h: float


# How dlib HOG boxes sit on the 300-W training faces (training_runs/2dfan-lite/box_model.json, 440 faces):
# 2dfan-lite was trained on boxes placed this way, and the default detector frames faces so.
DLIB_HOG = Framing(dx=-0.00819390825323268, dy=-0.09669147562854807, w=1.046930490756384, h=1.0467766837340444)


def box_from_landmarks(landmarks: np.ndarray, framing: Framing = DLIB_HOG, score: float = 1.0) -> FaceBox:
    """The box a detector of ``framing`` would typically give for a face with these landmarks."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    if points.ndim != 2 or len(points) < 2 or not np.isfinite(points).all():
        raise InputError(f"landmarks must be a finite (N, 2) or (N, 3) array, got shape {np.shape(landmarks)}")
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    size = math.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))
    if size <= 0:
        raise InputError("the landmarks span no area: cannot frame a face on them")
    cx, cy = (x1 + x2) / 2 + framing.dx * size, (y1 + y2) / 2 + framing.dy * size
    w, h = framing.w * size, framing.h * size
    return FaceBox(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score)
