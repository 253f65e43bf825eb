"""Training boxes as a face detector draws them: its own box for each face, or its typical placement.

Two records in the run folder, each measured once with a registered detector:
- detections.json: the detector's box for every annotated training face (the detection that overlaps the
  landmarks most; null where it misses the face), so a recipe can train on the very boxes it will get;
- box_model.json: where the detector's boxes sit relative to the landmarks' box (median centre offsets and
  side ratios), for faces it misses or for recipes that place every box this way.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..detection import FaceBox
from ..detection.framing import MIN_IOU, Framing, box_from_landmarks, box_offsets
from ..errors import InputError
from ..jsonparse import parse_json_object
from ..pts import annotated_images, read_pts

# the detector a box model without a "detector" key was measured with (the v1 run's box_model.json)
LEGACY_DETECTOR = "dlib-hog"

Box = tuple[float, float, float, float]


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
        points = read_pts(pts_path)
        face = (*points.min(0), *points.max(0))
        scored = [(iou(b.as_tuple(), face), b) for b in found_detector.detect(read_image(image_path))]
        best = max(scored, key=lambda s: s[0], default=(0.0, None))
        # the same rule as fanzoo.detection.framing.box_offsets: the best overlap, if it is this face at all
        boxes[face_key(image_path, folder)] = \
            [float(v) for v in best[1].as_tuple()] if best[1] is not None and best[0] >= MIN_IOU else None
    return {"detector": detector, "boxes": boxes}


def placement(folder: Path, detections: Mapping[str, Any]) -> dict[str, Any]:
    """The box model: the detector's framing (fanzoo.detection.framing) measured on the detected boxes."""
    folder = Path(folder)
    rows = [box_offsets([FaceBox(*box)], read_pts((folder / key).with_suffix(".pts")))
            for key, box in detections["boxes"].items() if box is not None]
    rows = [row for row in rows if row is not None]
    if not rows:
        raise InputError(f"detector {detections['detector']} found none of the annotated faces in {folder}")
    dx, dy, w, h = (float(v) for v in np.median(np.array(rows), axis=0))
    return {"detector": detections["detector"], "dx": dx, "dy": dy, "w": w, "h": h, "n": len(rows)}


def detector_like_box(points: np.ndarray, model: Mapping[str, Any]) -> Box:
    """The box the detector would typically draw around these landmarks."""
    framing = Framing(model.get("detector", LEGACY_DETECTOR), model["dx"], model["dy"], model["w"], model["h"])
    return box_from_landmarks(points, framing).as_tuple()


def _write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def _check_detector(path: Path, stored: str, wanted: str) -> None:
    if stored != wanted:
        raise InputError(f"{path} was measured with detector {stored}, but the recipe asks for {wanted}; "
                         "use another run folder or delete the file to measure again")


def _read_cache(cache: Path) -> dict[str, Any]:
    """A run folder's cached measurement; a damaged one is one error that says how to measure again."""
    try:
        return parse_json_object(cache.read_text(encoding="utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one too
        raise InputError(f"{cache} is damaged ({str(exc).splitlines()[0]}); delete it to measure again") from None


def load_detections(folder: Path, cache: Path, detector: str, progress: bool = False) -> dict[str, Any]:
    """The run folder's detections.json, made on first use by running ``detector`` on every training face."""
    if cache.is_file():
        detections = _read_cache(cache)
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
        model = _read_cache(cache)
        _check_detector(cache, model.get("detector", LEGACY_DETECTOR), detector)
        return model
    model = placement(folder, detections if detections is not None else detect_faces(folder, detector, every=4))
    _write_json(cache, model)
    return model
