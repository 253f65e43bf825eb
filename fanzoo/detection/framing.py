"""How a detector's boxes frame a face, measured against 68 landmarks, and the box transforms between framings.

A framing is four numbers relative to the box of the 68 landmarks, in units of that box's size
s = sqrt(width * height): the centre offset (dx, dy) and the width and height (w, h), medians over the
300-W training faces (`python tools/measure_framing.py` regenerates ``framings.json``). A landmark model
declares the framing it was trained on (``ModelSpec.box_framing``); a box from a detector of another
framing is mapped to it through the landmark box both are measured against.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import FaceBox, FaceDetector

FRAMINGS_FILE = Path(__file__).with_name("framings.json")
MIN_IOU = 0.3  # as fanzoo.evaluation.choose_box: below this a detection is another face


@dataclass(frozen=True)
class Framing:
    """Box centre minus landmark-box centre (dx, dy) and box sides (w, h), in landmark-box sizes."""

    name: str
    dx: float
    dy: float
    w: float
    h: float
    faces: int = 0  # how many faces the medians come from (0: not measured)
    note: str = ""

    def __post_init__(self) -> None:
        values = (self.dx, self.dy, self.w, self.h)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) or self.w <= 0 or self.h <= 0:
            raise InputError(f"framing {self.name!r} needs finite dx, dy and positive w, h; got {values}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@cache
def framings() -> dict[str, Framing]:
    """The committed framings, by name."""
    data = json.loads(FRAMINGS_FILE.read_text(encoding="utf-8"))
    return {name: Framing(name=name, **entry) for name, entry in data["framings"].items()}


def get_framing(framing: str | Framing) -> Framing:
    if isinstance(framing, Framing):
        return framing
    try:
        return framings()[framing]
    except KeyError:
        raise InputError(f"unknown box framing {framing!r}; known: {', '.join(sorted(framings()))}") from None


def landmark_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """Centre x, centre y and size sqrt(w * h) of the landmarks' box; :class:`InputError` if degenerate."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 2 or points.shape[1] < 2 or not np.isfinite(points[:, :2]).all():
        raise InputError(f"landmarks must be a finite (N, 2) or (N, 3) array, got shape {points.shape}")
    (x1, y1), (x2, y2) = points[:, :2].min(0), points[:, :2].max(0)
    size = math.sqrt((x2 - x1) * (y2 - y1))
    if size <= 0:
        raise InputError("the landmarks span no area: cannot frame a face on them")
    return (x1 + x2) / 2, (y1 + y2) / 2, size


def _place(cx: float, cy: float, size: float, framing: Framing, score: float) -> FaceBox:
    x, y = cx + framing.dx * size, cy + framing.dy * size
    w, h = framing.w * size, framing.h * size
    return FaceBox(x - w / 2, y - h / 2, x + w / 2, y + h / 2, score)


def box_from_landmarks(landmarks: np.ndarray, framing: str | Framing, score: float = 1.0) -> FaceBox:
    """The box a detector of ``framing`` would typically give for a face with these landmarks."""
    return _place(*landmark_box(landmarks), get_framing(framing), score)


def convert_box(box: FaceBox, source: str | Framing, target: str | Framing) -> FaceBox:
    """A box of the ``source`` framing, as the ``target`` framing would place it on the same face."""
    source, target = get_framing(source), get_framing(target)
    if source == target:
        return box
    width, height = box.x2 - box.x1, box.y2 - box.y1
    size = math.sqrt(width * height / (source.w * source.h))  # the landmark box's size, estimated
    cx = (box.x1 + box.x2) / 2 - source.dx * size
    cy = (box.y1 + box.y2) / 2 - source.dy * size
    return _place(cx, cy, size, target, box.score)


def box_mapper(detector_framing: str | None, model_framing: str | None):
    """A function mapping the detector's boxes to the model's framing (the identity when either is unknown)."""
    if detector_framing is None or model_framing is None or detector_framing == model_framing:
        return lambda box: box
    source, target = get_framing(detector_framing), get_framing(model_framing)
    return lambda box: convert_box(box, source, target)


def box_offsets(boxes: Sequence[FaceBox], landmarks: np.ndarray) -> tuple[float, float, float, float] | None:
    """(dx, dy, w, h) of the detection that overlaps the landmarks' face best, or None if none does."""
    from ..metrics import iou

    cx, cy, size = landmark_box(landmarks)
    points = np.asarray(landmarks)[:, :2]
    face = (*points.min(0), *points.max(0))
    best = max(boxes, key=lambda b: iou(b.as_tuple(), face), default=None)
    if best is None or iou(best.as_tuple(), face) < MIN_IOU:
        return None
    return ((best.x1 + best.x2) / 2 - cx) / size, ((best.y1 + best.y2) / 2 - cy) / size, \
        (best.x2 - best.x1) / size, (best.y2 - best.y1) / size


def measure_framing(detector: FaceDetector, folders: Iterable[Path | str], name: str,
                    every: int = 1) -> tuple[Framing, np.ndarray]:
    """How ``detector`` frames the annotated faces of folders of images with .pts files beside them.

    Returns the median framing and the (n, 4) rows it comes from (dx, dy, w, h per face found; every
    ``every``-th image). Faces the detector misses are left out.
    """
    from ..imageio import read_image
    from ..pts import annotated_images, read_pts

    pairs = [pair for folder in folders for pair in annotated_images(Path(folder))][::every]
    if not pairs:
        raise InputError("no images with .pts files beside them in " + ", ".join(map(str, folders)))
    rows = [row for image, pts in pairs
            for row in [box_offsets(detector.detect(read_image(image)), read_pts(pts))] if row is not None]
    if not rows:
        raise InputError(f"the {name} detector found none of the {len(pairs)} annotated faces")
    table = np.array(rows)
    dx, dy, w, h = (float(v) for v in np.median(table, axis=0))
    return Framing(name, dx, dy, w, h, faces=len(rows)), table
