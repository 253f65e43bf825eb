"""Calibration faces for int8: real face crops from an annotated folder, cut with the model's own preprocessing.

Each face is framed from its ground-truth landmarks as the model's training boxes frame a face (its
``box_framing``; the landmarks' bounding box for a model without one) and cropped exactly as at inference
(``box_to_center_scale`` + ``crop``), so int8's ranges are set on the crops the model will see. For the
depth network, the crop is joined by landmark maps drawn at the ground-truth points, as the predictor draws
them at the predicted ones.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FanzooError, InputError
from ..registry import Preprocessing

log = logging.getLogger(__name__)

DEFAULT_FACES = 64
HELD_OUT_FACES = 32  # other faces of the same folder, on which the int8 error is measured
MIN_FACES = 8
_REPO_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def default_calibration_dir() -> Path | None:
    """The 300-W training faces: ``$FANZOO_DATA/300w/trainset``, else ``../shared/data`` beside a source checkout."""
    data = Path(os.environ["FANZOO_DATA"]) if os.environ.get("FANZOO_DATA") else _REPO_DATA
    folder = data / "300w" / "trainset"
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class CalibrationSet:
    """Network inputs for calibration and for measuring the error, and where they came from."""

    inputs: np.ndarray  # (N, C, S, S) float32
    held_out: np.ndarray  # (M, C, S, S) float32, faces not used for calibration
    description: Mapping[str, Any]


def _pick(total: int, count: int, offset: float) -> list[int]:
    """``count`` indices spread evenly over ``total`` sorted files (every source folder gets its share)."""
    if total == 0:
        return []
    step = total / count
    return sorted({min(total - 1, int((k + offset) * step)) for k in range(count)})


def _face_input(image_path: Path, pts_path: Path, pre: Preprocessing, channels: int,
                box_framing: str | None) -> np.ndarray:
    from ..depth_input import landmark_maps
    from ..evaluation import truth_box
    from ..imageio import read_image
    from ..preprocessing import box_to_center_scale, crop, crop_to_image_matrix, to_network_input
    from ..pts import read_pts

    points = read_pts(pts_path)
    center, scale = box_to_center_scale(truth_box(points, box_framing).as_tuple(), pre)
    x = to_network_input([crop(read_image(image_path), center, scale, pre)])[0]
    if channels == 3:
        return x
    # the depth network also sees one gaussian per landmark, drawn in crop pixels (1-based, as the authors)
    m = crop_to_image_matrix(center, scale, pre.input_size, pre.scale_factor)
    in_crop = (points[:, :2] - m[:, 2]) / m[0, 0] + 1.0
    return np.concatenate([x, landmark_maps(in_crop.astype(np.float32), pre.input_size)], axis=0)


def calibration_set(folder: Path | str, pre: Preprocessing, channels: int = 3, faces: int = DEFAULT_FACES,
                    held_out: int = HELD_OUT_FACES, box_framing: str | None = None) -> CalibrationSet:
    """``faces`` calibration inputs and ``held_out`` others, spread evenly over the folder's annotated images,
    framed as ``box_framing`` (the model's ``ModelSpec.box_framing``) frames a face."""
    from ..pts import annotated_images

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"calibration folder not found: {folder}")
    if faces < MIN_FACES:
        raise InputError(f"calibrate on at least {MIN_FACES} faces, got {faces}")
    pairs = annotated_images(folder)
    if len(pairs) < faces + held_out:
        raise InputError(f"{folder} holds {len(pairs)} images with .pts files beside them; int8 calibration needs "
                         f"{faces + held_out} ({faces} to calibrate, {held_out} to measure the error)")
    chosen = _pick(len(pairs), faces, 0.0)
    # held-out faces sit midway between calibration faces, spread over the whole folder too
    between = [i for i in _pick(len(pairs), faces, 0.5) if i not in set(chosen)]
    others = [between[k] for k in _pick(len(between), min(held_out, len(between)), 0.0)]

    def load(indices: list[int]) -> np.ndarray:
        out = []
        for i in indices:
            try:
                out.append(_face_input(*pairs[i], pre, channels, box_framing))
            except FanzooError as exc:  # one bad file never stops the rest
                log.warning("calibration: skipping %s: %s", pairs[i][0], exc)
        return np.stack(out) if out else np.zeros((0, channels, pre.input_size, pre.input_size), np.float32)

    inputs, held = load(chosen), load(others)
    if len(inputs) < MIN_FACES or len(held) < 1:
        raise InputError(f"only {len(inputs)} calibration faces of {folder} could be read; need {MIN_FACES}")
    description = {
        "folder": str(folder), "faces": int(len(inputs)), "held_out_faces": int(len(held)),
        "images_in_folder": len(pairs),
        "selection": "evenly spaced over the sorted annotated images; held-out faces interleaved between them",
        "boxes": (f"placed from the ground-truth landmarks in the {box_framing} framing" if box_framing else
                  "bounding box of the ground-truth landmarks") + ", cropped with the model's preprocessing",
        "first": str(pairs[chosen[0]][0].relative_to(folder)), "last": str(pairs[chosen[-1]][0].relative_to(folder)),
    }
    return CalibrationSet(inputs, held, description)


def calibration_from_inputs(inputs: np.ndarray, source: str) -> CalibrationSet:
    """Calibrate on network inputs at hand (a test artifact's reference faces, say); the error is then measured
    on the same faces, which the description says."""
    if len(inputs) < 1:
        raise InputError("no calibration inputs")
    return CalibrationSet(np.asarray(inputs, np.float32), np.asarray(inputs, np.float32), {
        "folder": source, "faces": int(len(inputs)), "held_out_faces": int(len(inputs)),
        "selection": "given network inputs; the error is measured on the same faces (not held out)"})
