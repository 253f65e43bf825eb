"""Built-in face detectors, registered through the same hook as third-party ones (dlib is imported lazily)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from .dlib_cnn import DlibCnnDetector
    from .dlib_hog import DlibHogDetector


def _hog(**options: Any) -> DlibHogDetector:
    from .dlib_hog import DlibHogDetector
    return DlibHogDetector(**options)


def _cnn(**options: Any) -> DlibCnnDetector:
    from .dlib_cnn import DlibCnnDetector
    return DlibCnnDetector(**options)


@hookimpl
def register_detectors(register: Callable[..., None]) -> None:
    register("dlib-hog", _hog, "dlib HOG + linear SVM: frontal faces, fast on the CPU (default)")
    register("dlib-cnn", _cnn, "dlib CNN (MMOD): more poses, slow on the CPU; needs face_recognition_models")
