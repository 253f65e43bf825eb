"""Training boxes as a face detector draws them: its own box for each face, or its typical placement.

Two records in the run folder, each measured once with a registered detector:
- detections.json: the detector's box for every annotated training face (the detection that overlaps the
  landmarks most; null where it misses the face), so a recipe can train on the very boxes it will get;
- box_model.json: where the detector's boxes sit relative to the landmarks' box (median centre offsets and
  side ratios), for faces it misses or for recipes that place every box this way.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import InputError
from ..pts import annotated_images, read_pts

# the detector a box model without a "detector" key was measured with (the v1 run's box_model.json)
LEGACY_DETECTOR = "dlib-hog"
MATCH_IOU = 0.3  # a detection belongs to the annotated face if it overlaps the landmarks' box this much

Box = tuple[float, float, float, float]


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float, float]:
    """(x1, y1, x2, y2) of the landmarks and the box's geometric-mean side."""
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    return float(x1), float(y1), float(x2), float(y2), math.sqrt((x2 - x1) * (y2 - y1))


def face_key(image: Path, folder: Path) -> str:
    """How a face is named in detections.json: its image path below the data folder, with / separators."""
    return Path(image).relative_to(folder).as_posix()


def make_detector(name: str) -> Any:
    from ..plugins import plugins

    return plugins().detector(name).factory()


def detect_faces(folder: Path, detector: str, every: int = 1, instance: Any = None,
                 progress: bool = False) -> dict[str, Any]:
    """{"detector": name, "boxes": {face key: [x1, y1, x2, y2] or None}} for every ``every``-th face.

    ``instance`` is the detector object to run (default: the registered ``detector``, made here).
    """
    from tqdm import tqdm

    from ..imageio import read_image
    from ..metrics import iou

    folder = Path(folder)
    found_detector = instance if instance is not None else make_detector(detector)
    boxes: dict[str, list[float] | None] = {}
    for image_path, pts_path in tqdm(annotated_images(folder)[::every], desc=f"detecting ({detector})",
                                     disable=not progress):
        landmarks = landmark_box(read_pts(pts_path))[:4]
        scored = [(iou(b.as_tuple(), landmarks), b) for b in found_detector.detect(read_image(image_path))]
        scored = [(overlap, b) for overlap, b in scored if overlap >= MATCH_IOU]
        best = max(scored, key=lambda s: s[0])[1] if scored else None
        boxes[face_key(image_path, folder)] = None if best is None else [float(v) for v in best.as_tuple()]
    return {"detector": detector, "boxes": boxes}


def placement(folder: Path, detections: Mapping[str, Any]) -> dict[str, Any]:
    """The box model: median offsets and side ratios of the detected boxes, in landmark-box sides."""
    folder = Path(folder)
    rows = []
    for key, box in detections["boxes"].items():
        if box is None:
            continue
        x1, y1, x2, y2, size = landmark_box(read_pts((folder / key).with_suffix(".pts")))
        rows.append(((box[0] + box[2]) / 2 - (x1 + x2) / 2, (box[1] + box[3]) / 2 - (y1 + y2) / 2,
                     box[2] - box[0], box[3] - box[1], size))
    if not rows:
        raise InputError(f"detector {detections['detector']} found none of the annotated faces in {folder}")
    a = np.array(rows)
    return {"detector": detections["detector"],
            "dx": float(np.median(a[:, 0] / a[:, 4])), "dy": float(np.median(a[:, 1] / a[:, 4])),
            "w": float(np.median(a[:, 2] / a[:, 4])), "h": float(np.median(a[:, 3] / a[:, 4])), "n": len(rows)}


def detector_like_box(points: np.ndarray, model: Mapping[str, Any]) -> Box:
    """The box the detector would typically draw around these landmarks."""
    x1, y1, x2, y2, size = landmark_box(points)
    cx, cy = (x1 + x2) / 2 + model["dx"] * size, (y1 + y2) / 2 + model["dy"] * size
    w, h = model["w"] * size, model["h"] * size
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def _check_detector(path: Path, stored: str, wanted: str) -> None:
    if stored != wanted:
        raise InputError(f"{path} was measured with detector {stored}, but the recipe asks for {wanted}; "
                         "use another run folder or delete the file to measure again")


def load_detections(folder: Path, cache: Path, detector: str, progress: bool = False) -> dict[str, Any]:
    """The run folder's detections.json, made on first use by running ``detector`` on every training face."""
    if cache.is_file():
        detections = json.loads(cache.read_text())
        _check_detector(cache, detections.get("detector", ""), detector)
        return detections
    detections = detect_faces(folder, detector, progress=progress)
    _write_json(cache, detections)
    return detections


def load_box_model(folder: Path, cache: Path, detector: str = LEGACY_DETECTOR,
                   detections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The run folder's box model, measured with ``detector`` on first use: from ``detections`` when given,
    else on every 4th training photo. One measured with another detector is an error (the run's crops
    would silently change)."""
    if cache.is_file():
        model = json.loads(cache.read_text())
        _check_detector(cache, model.get("detector", LEGACY_DETECTOR), detector)
        return model
    model = placement(folder, detections if detections is not None else detect_faces(folder, detector, every=4))
    _write_json(cache, model)
    return model
