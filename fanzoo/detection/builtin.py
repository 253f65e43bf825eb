"""Built-in face detectors, registered through the same hook as third-party ones (imports stay lazy)."""
from __future__ import annotations

from typing import Any, Callable

from ..hookspecs import hookimpl


def _hog(**options: Any) -> Any:
    from .dlib_hog import DlibHogDetector
    return DlibHogDetector(**options)


def _cnn(**options: Any) -> Any:
    from .dlib_cnn import DlibCnnDetector
    return DlibCnnDetector(**options)


@hookimpl
def register_detectors(register: Callable[..., None]) -> None:
    register("dlib-hog", _hog, "dlib HOG + linear SVM, frontal faces, fast on the CPU (default)")
    register("dlib-cnn", _cnn, "dlib CNN (MMOD), more poses, slow on the CPU; needs face_recognition_models")
