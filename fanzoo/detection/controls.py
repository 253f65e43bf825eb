"""Detection controls every detector shares: detection size, minimum face size, maximum face count."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError
from ..registry import is_whole_number
from . import FaceBox

# Below 32 px a CenterNet-style stride-32 backbone has nothing left; above 8192 px one detection pass
# needs gigabytes of activations.
MIN_SIZE, MAX_SIZE = 32, 8192


@dataclass(frozen=True)
class Controls:
    """What a user may ask of any detector.

    ``size``: the long side detection runs at; larger photos are reduced to it first (None: as they are).
    ``min_face``: faces whose box is narrower or lower than this many pixels (of the photo) are dropped.
    ``max_faces``: keep only the largest N faces (None: all).
    """

    size: int | None = None
    min_face: float = 0.0
    max_faces: int | None = None

    def __post_init__(self) -> None:
        if self.size is not None and (not is_whole_number(self.size) or not MIN_SIZE <= self.size <= MAX_SIZE):
            raise InputError(f"the detection size is a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, "
                             f"got {self.size!r}")
        if not _number(self.min_face) or not 0 <= self.min_face < math.inf:
            raise InputError(f"min_face is a number of pixels >= 0, got {self.min_face!r}")
        if self.max_faces is not None and (not is_whole_number(self.max_faces) or self.max_faces < 1):
            raise InputError(f"max_faces is a whole number >= 1, got {self.max_faces!r}")

    def reduce(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The photo at the detection size (never enlarged) and the factor from its pixels back to the photo's."""
        long_side = max(rgb.shape[:2])
        if self.size is None or long_side <= self.size:
            return rgb, 1.0
        factor = self.size / long_side
        height, width = (max(1, round(s * factor)) for s in rgb.shape[:2])
        reduced = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        # the exact per-axis factors differ from `factor` by rounding; the mean of the two is within 0.5 px
        return reduced, (rgb.shape[1] / width + rgb.shape[0] / height) / 2.0

    def select(self, boxes: Sequence[FaceBox]) -> list[FaceBox]:
        """Drop faces under ``min_face``, keep the ``max_faces`` largest; the order stays highest score first."""
        kept = [b for b in boxes if min(b.x2 - b.x1, b.y2 - b.y1) >= self.min_face]
        if self.max_faces is not None and len(kept) > self.max_faces:
            by_area = sorted(range(len(kept)), key=lambda i: -(kept[i].x2 - kept[i].x1) * (kept[i].y2 - kept[i].y1))
            largest = set(by_area[:self.max_faces])
            kept = [b for i, b in enumerate(kept) if i in largest]
        return sorted(kept, key=lambda b: -b.score)


def scaled(boxes: Sequence[FaceBox], factor: float) -> list[FaceBox]:
    """Boxes found on a reduced photo, in the photo's pixels."""
    if factor == 1.0:
        return list(boxes)
    return [FaceBox(b.x1 * factor, b.y1 * factor, b.x2 * factor, b.y2 * factor, b.score) for b in boxes]


def check_threshold(value: object) -> float:
    if not _number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InputError(f"the detection threshold is a finite number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
