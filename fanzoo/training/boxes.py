"""Detector-like training boxes: where a registered face detector puts its box relative to the landmarks.

The training crop is cut from a box placed as the detector would place it (median offsets and size ratio,
measured once on a quarter of the training photos and kept in the run folder's box_model.json), so the
network sees faces framed as they will be at inference.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import InputError
from ..pts import annotated_images, read_pts

# the detector a box model without a "detector" key was measured with (the v1 run's box_model.json)
LEGACY_DETECTOR = "dlib-hog"
MATCH_IOU = 0.3  # a detection belongs to the annotated face if it overlaps the landmarks' box this much


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float, float]:
    """(x1, y1, x2, y2) of the landmarks and the box's geometric-mean side."""
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    return float(x1), float(y1), float(x2), float(y2), math.sqrt((x2 - x1) * (y2 - y1))


def box_model(samples_dir: Path, detector: str = LEGACY_DETECTOR, every: int = 4) -> dict:
    """How ``detector``'s boxes sit relative to the landmarks' box: median centre offsets and side ratios
    (in landmark-box sides) over the faces it finds in every ``every``-th training photo."""
    from ..imageio import read_image
    from ..metrics import iou
    from ..plugins import plugins

    found_detector = plugins().detector(detector).factory()
    rows = []
    for image_path, pts_path in annotated_images(samples_dir)[::every]:
        x1, y1, x2, y2, size = landmark_box(read_pts(pts_path))
        found = [b for b in found_detector.detect(read_image(image_path))
                 if iou(b.as_tuple(), (x1, y1, x2, y2)) >= MATCH_IOU]
        if found:
            b = max(found, key=lambda b: iou(b.as_tuple(), (x1, y1, x2, y2)))
            rows.append(((b.x1 + b.x2) / 2 - (x1 + x2) / 2, (b.y1 + b.y2) / 2 - (y1 + y2) / 2,
                         b.x2 - b.x1, b.y2 - b.y1, size))
    if not rows:
        raise InputError(f"detector {detector} found none of the annotated faces in {samples_dir}")
    a = np.array(rows)
    return {"detector": detector,
            "dx": float(np.median(a[:, 0] / a[:, 4])), "dy": float(np.median(a[:, 1] / a[:, 4])),
            "w": float(np.median(a[:, 2] / a[:, 4])), "h": float(np.median(a[:, 3] / a[:, 4])), "n": len(rows)}


def detector_like_box(points: np.ndarray, model: dict) -> tuple[float, float, float, float]:
    x1, y1, x2, y2, size = landmark_box(points)
    cx, cy = (x1 + x2) / 2 + model["dx"] * size, (y1 + y2) / 2 + model["dy"] * size
    w, h = model["w"] * size, model["h"] * size
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def load_box_model(folder: Path, cache: Path, detector: str = LEGACY_DETECTOR) -> dict:
    """The run folder's box model, measured with ``detector`` on first use; a stored one measured with
    another detector is an error (the run's crops would silently change)."""
    if cache.is_file():
        model = json.loads(cache.read_text())
        stored = model.get("detector", LEGACY_DETECTOR)
        if stored != detector:
            raise InputError(f"{cache} was measured with detector {stored}, but the recipe asks for {detector}; "
                             "use another run folder or delete the file to measure again")
        return model
    model = box_model(folder, detector)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        Path(tmp).write_text(json.dumps(model, indent=2))
    return model
