"""Face detectors: the box type, the detector contract, and boxes given by the user."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class FaceBox:
    """A face box in image pixels (x2, y2 exclusive as dlib reports them) and the detector's score."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@runtime_checkable
class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in a uint8 RGB image, best first; an empty list when there is none."""


def make_box(values: Sequence[float], score: float = 1.0) -> FaceBox:
    if len(values) != 4:
        raise InputError(f"a face box has 4 numbers x1,y1,x2,y2; got {len(values)}")
    x1, y1, x2, y2 = (float(v) for v in values)
    if not np.isfinite([x1, y1, x2, y2]).all() or x2 <= x1 or y2 <= y1:
        raise InputError(f"a face box needs x2 > x1 and y2 > y1; got {x1:g},{y1:g},{x2:g},{y2:g}")
    return FaceBox(x1, y1, x2, y2, score)


def parse_box(text: str) -> FaceBox:
    """'x1,y1,x2,y2' -> FaceBox."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise InputError(f"cannot read face box {text!r}: expected x1,y1,x2,y2") from None
    return make_box(values)


def load_boxes_json(path: Path | str) -> dict[str, list[FaceBox]]:
    """Boxes from JSON: either a list of boxes ``[[x1,y1,x2,y2], ...]`` for every image (key ``"*"``),
    or an object ``{"image file name": [[x1,y1,x2,y2], ...], ...}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read boxes from {path}: {exc}") from exc
    if isinstance(data, list):
        data = {"*": data}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a list of boxes or an object of image name -> boxes")
    try:
        return {str(name): [make_box(b) for b in boxes] for name, boxes in data.items()}
    except TypeError as exc:
        raise InputError(f"{path}: every box must be a list of 4 numbers ({exc})") from exc


class GivenBoxes:
    """A 'detector' that returns fixed boxes, for callers that already know where the faces are."""

    def __init__(self, boxes: Sequence[FaceBox]) -> None:
        self.boxes = list(boxes)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        return list(self.boxes)
