"""The Python entry point: a ready Predictor from names (model, backend, device, detector)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .artifacts import resolve_artifact
from .plugins import get_model, plugins
from .precision import check_backend_precision, load_options
from .predictor import Predictor

log = logging.getLogger(__name__)

DEFAULT_MODEL = "2dfan-lite"  # bundled: works offline, without a download
DEFAULT_BACKEND = "onnxruntime"
DEFAULT_DETECTOR = "dlib-hog"


def load_predictor(model: str = DEFAULT_MODEL, backend: str | None = None, device: str = "cpu",
                   detector: str | None = DEFAULT_DETECTOR, flip: bool = False, artifacts: Path | str | None = None,
                   threads: int | None = None, batch_size: int = 8, detector_options: dict[str, Any] | None = None,
                   announce=log.warning, precision: str | None = None) -> Predictor:
    """Resolve every name, prepare the artifacts the backend needs, and return a Predictor.

    ``detector=None`` means boxes will always be given to ``predict``. ``backend`` and ``precision`` (fp32,
    int8, bf16) default to the model's measured choice in the registry.
    """
    spec = get_model(model)
    runtime = plugins().backend(backend or spec.default_backend)
    folder = Path(artifacts) if artifacts is not None else None
    precision = precision or spec.default_precision
    check_backend_precision(runtime, precision)

    def session(name: str):
        part = get_model(name)
        used = precision
        if precision == "int8" and not part.int8:
            used = "fp32"
            announce(f"{part.name} has no int8 version (its int8 error is past the tolerance); it runs in fp32")
        path = resolve_artifact(part, runtime.artifact_format, folder, announce=announce, precision=used)
        return runtime.load(path, device=device, threads=threads, **load_options(used))

    landmark_session = session(spec.name)
    depth_session = session(spec.depth_model) if spec.depth_model else None
    face_detector = None
    if detector is not None:
        face_detector = plugins().detector(detector).factory(**(detector_options or {}))
    return Predictor(spec, landmark_session, depth_session, face_detector, flip=flip, batch_size=batch_size)
