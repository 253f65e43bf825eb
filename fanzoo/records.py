"""Plain JSON-ready records of results: the one layout the CLI's --json, JSON Lines and Parquet rows share."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .batch import PathResult
    from .predictor import Face


def face_record(face: Face) -> dict[str, Any]:
    """Box, detector score, landmarks ([x, y] or [x, y, z]) and peak scores, rounded for text output."""
    return {
        "box": [round(float(v), 3) for v in face.box],
        "detector_score": round(float(face.detector_score), 4),
        "landmarks": np.round(face.landmarks, 3).tolist(),
        "landmark_scores": np.round(face.landmark_scores.astype(np.float64), 4).tolist(),
    }


def result_record(result: PathResult) -> dict[str, Any]:
    return {"path": str(result.path), "width": result.width, "height": result.height,
            "faces": [face_record(f) for f in result.faces], "error": result.error}
