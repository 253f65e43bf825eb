"""dlib's CNN (MMOD) face detector, with the model file that the face_recognition_models package ships."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError
from . import FaceBox


def default_model_path() -> Path:
    # locate the file without importing the package: its __init__ needs pkg_resources (setuptools < 81)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError("the dlib-cnn detector needs its model file: pip install "
                                      "face_recognition_models (or pass model_path=...mmod_human_face_detector.dat)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "mmod_human_face_detector.dat"
    if not path.is_file():
        raise BackendUnavailableError(f"{path} is missing; reinstall face_recognition_models")
    return path


class DlibCnnDetector:
    def __init__(self, model_path: str | Path | None = None, upsample: int = 0, threshold: float = 0.0) -> None:
        import dlib

        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise BackendUnavailableError(f"dlib CNN model file not found: {path}")
        self.upsample = upsample
        self.threshold = threshold
        self._detector = dlib.cnn_face_detection_model_v1(str(path))

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        found = self._detector(np.ascontiguousarray(rgb), self.upsample)
        boxes = [FaceBox(float(d.rect.left()), float(d.rect.top()), float(d.rect.right()), float(d.rect.bottom()),
                         float(d.confidence)) for d in found if d.confidence >= self.threshold]
        return sorted(boxes, key=lambda b: -b.score)
