"""The Python entry point: a ready Predictor from names (model, backend, device, detector)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .artifacts import prepare
from .plugins import plugins
from .predictor import Predictor

log = logging.getLogger(__name__)

DEFAULT_MODEL = "2dfan-lite"  # bundled: works offline, without a download
DEFAULT_BACKEND = "onnxruntime"
DEFAULT_DETECTOR = "dlib-hog"


def load_predictor(model: str = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, device: str = "cpu",
                   detector: str | None = DEFAULT_DETECTOR, flip: bool = False, artifacts: Path | str | None = None,
                   threads: int | None = None, batch_size: int = 8, detector_options: dict[str, Any] | None = None,
                   announce=log.warning) -> Predictor:
    """Resolve every name, prepare the artifacts the backend needs, and return a Predictor.

    ``model`` is an architecture (its default weights) or ``ARCH.TAG``. The predictor takes its crop and
    decoding from the artifact's MANIFEST. ``detector=None`` means boxes will always be given to ``predict``.
    """
    runtime = plugins().backend(backend)
    folder = Path(artifacts) if artifacts is not None else None
    landmarks, *depth = prepare(model, runtime.artifact_format, folder, announce=announce)
    sessions = [runtime.load(a.path, device=device, threads=threads) for a in (landmarks, *depth)]
    face_detector = None
    if detector is not None:
        face_detector = plugins().detector(detector).factory(**(detector_options or {}))
    contract = landmarks.manifest
    return Predictor(landmarks.model.spec, sessions[0], sessions[1] if depth else None, face_detector, flip=flip,
                     batch_size=batch_size, preprocessing=contract.crop(), subpixel=str(contract.subpixel))
