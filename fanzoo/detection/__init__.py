"""Face detectors: the box type, the detector contract, and boxes given by the user."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError
from ..jsonparse import parse_json

# load_boxes_json key for boxes that apply to every image
ALL_IMAGES = "*"
MAX_BOXES_JSON_BYTES = 64 << 20


@dataclass(frozen=True)
class FaceBox:
    """A face box in image pixels (left, top, right, bottom as the detector reports them) and its score."""

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
        """Faces in a uint8 RGB (H, W, 3) image, highest score first; an empty list when there is none."""
        ...


def check_rgb(rgb: Any) -> np.ndarray:
    """``rgb`` if it is a non-empty uint8 (H, W, 3) array, else :class:`InputError`."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or rgb.size == 0:
        raise InputError(f"face detectors take a non-empty uint8 RGB array of shape (H, W, 3), got "
                         f"{getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')} "
                         "(fanzoo.imageio.read_image converts files)")
    return rgb


def make_box(values: Sequence[float], score: float = 1.0) -> FaceBox:
    """FaceBox from 4 numbers x1, y1, x2, y2; :class:`InputError` unless they are finite with x2 > x1, y2 > y1."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__") or len(values) != 4:
        raise InputError(f"a face box is 4 numbers [x1, y1, x2, y2]; got {values!r}")
    try:
        x1, y1, x2, y2 = (float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"a face box is 4 numbers [x1, y1, x2, y2]; got {values!r}") from None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise InputError(f"a face box needs finite numbers with x2 > x1 and y2 > y1; got {x1:g},{y1:g},{x2:g},{y2:g}")
    try:
        score = float(score)
    except (TypeError, ValueError):
        raise InputError(f"a face box score must be a number; got {score!r:.40}") from None
    if not math.isfinite(score):
        raise InputError(f"a face box score must be finite; got {score}")
    return FaceBox(x1, y1, x2, y2, score)


def make_boxes(boxes: Any) -> list[FaceBox]:
    """A list of checked FaceBoxes from a sequence of FaceBoxes or of 4-number sequences (an (N, 4) array
    too); :class:`InputError` for anything else, such as a single box not wrapped in a list."""
    if isinstance(boxes, (str, bytes, dict)) or not hasattr(boxes, "__iter__") or not hasattr(boxes, "__len__"):
        raise InputError(f"face boxes are a list of [x1, y1, x2, y2]; got {type(boxes).__name__}")
    checked = []
    for box in boxes:
        if isinstance(box, FaceBox):
            checked.append(make_box(box.as_tuple(), box.score))
        elif isinstance(box, (int, float, np.number)):
            raise InputError("face boxes are a list of [x1, y1, x2, y2] (a single box must be wrapped in a list); "
                             f"got {boxes!r:.80}")
        else:
            checked.append(make_box(box))
    return checked


def parse_box(text: str) -> FaceBox:
    """'x1,y1,x2,y2' (spaces allowed) -> FaceBox with score 1.0."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise InputError(f"cannot read face box {text!r}: expected x1,y1,x2,y2") from None
    if len(values) != 4:
        raise InputError(f"cannot read face box {text!r}: expected 4 numbers x1,y1,x2,y2, got {len(values)}")
    return make_box(values)


def load_boxes_json(path: Path | str) -> dict[str, list[FaceBox]]:
    """Face boxes from a JSON file, in one of two forms:

    * a list of boxes, ``[[x1, y1, x2, y2], ...]``: the same boxes for every image, returned under the key
      ``ALL_IMAGES`` (``"*"``);
    * an object mapping an image *file name* (not a path) to its boxes, ``{"a.jpg": [[x1, y1, x2, y2]], ...}``.

    Raises :class:`InputError` naming the file and the offending entry.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BOXES_JSON_BYTES:
            raise InputError(f"{path} is larger than {MAX_BOXES_JSON_BYTES >> 20} MiB; that is no boxes file")
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InputError(f"cannot read boxes from {path}: {reason}") from None
    if isinstance(data, list):
        data = {ALL_IMAGES: data}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a list of boxes or an object of image file name -> list of boxes")
    result = {}
    for name, boxes in data.items():
        if not isinstance(boxes, list):
            raise InputError(f"{path}: boxes for {name!r} must be a list [[x1, y1, x2, y2], ...]")
        try:
            result[str(name)] = [make_box(b) for b in boxes]
        except InputError as exc:
            raise InputError(f"{path}: {name!r}: {exc}") from None
    return result


class GivenBoxes:
    """A 'detector' that returns fixed boxes, for callers that already know where the faces are."""

    def __init__(self, boxes: Sequence[FaceBox]) -> None:
        self.boxes = sorted(boxes, key=lambda b: -b.score)

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        return list(self.boxes)
