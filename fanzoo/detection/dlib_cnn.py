"""dlib's CNN (MMOD) face detector, with the model file that the face_recognition_models package ships."""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, InputError
from . import FaceBox, check_rgb
from .controls import Controls, check_threshold, scaled
from .dlib_hog import _dlib

MODEL_FILE = "mmod_human_face_detector.dat"
INSTALL_HINT = ("pip install face_recognition_models==0.3.0 "
                f"(or pass model_path=... to a copy of dlib's {MODEL_FILE})")
# The network reports only scores > 0. On the demo photos every face scored 1.01-1.15 (the cameraman's
# turned face in skimage_camera, which HOG misses, included) and the one false box 0.24 (dlib_bald_guys,
# upsample 1); on 113 300-W AFW images every annotated face scored >= 0.99. 0.5 sits in that gap.
DEFAULT_THRESHOLD = 0.5


def default_model_path() -> Path:
    """The model file inside the installed face_recognition_models, or :class:`BackendUnavailableError`."""
    # find_spec does not import the package: its __init__ needs pkg_resources, gone from setuptools >= 81
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None:
        raise BackendUnavailableError(f"the dlib-cnn detector needs its model file: {INSTALL_HINT}")
    folders = list(spec.submodule_search_locations or []) or ([str(Path(spec.origin).parent)] if spec.origin else [])
    for folder in folders:
        path = Path(folder) / "models" / MODEL_FILE
        if path.is_file():
            return path
    raise BackendUnavailableError(f"face_recognition_models is installed but has no models/{MODEL_FILE}; "
                                  f"reinstall it: {INSTALL_HINT}")


class DlibCnnDetector:
    """More poses and smaller faces than HOG, but about 100x slower on the CPU (2.4 s for 512x512 on 2 cores).

    Safe to share between threads: one network runs one photo at a time (it keeps its buffers between
    calls, and it already uses every core).
    """

    framing = "dlib-cnn"

    def __init__(self, model_path: str | Path | None = None, upsample: int = 0,
                 threshold: float = DEFAULT_THRESHOLD, size: int | None = None, min_face: float = 0.0,
                 max_faces: int | None = None) -> None:
        if not isinstance(upsample, int) or isinstance(upsample, bool) or upsample < 0:
            raise InputError(f"upsample must be a whole number >= 0, got {upsample!r}")
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise BackendUnavailableError(f"dlib CNN model file not found: {path}; {INSTALL_HINT}")
        dlib = _dlib()
        try:
            self._detector = dlib.cnn_face_detection_model_v1(str(path))
        except RuntimeError as exc:
            raise BackendUnavailableError(f"{path} is not a dlib CNN face detector model ({exc})") from exc
        self.model_path = path
        self.upsample = upsample
        self.threshold = check_threshold(threshold)
        self.controls = Controls(size, min_face, max_faces)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        image, factor = self.controls.reduce(check_rgb(rgb))
        with self._lock:
            found = self._detector(np.ascontiguousarray(image), self.upsample)
        boxes = [FaceBox(float(d.rect.left()), float(d.rect.top()), float(d.rect.right()), float(d.rect.bottom()),
                         float(d.confidence)) for d in found if d.confidence >= self.threshold]
        return self.controls.select(scaled(boxes, factor))
