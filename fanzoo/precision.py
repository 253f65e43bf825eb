"""Numeric precisions: which artifact each one runs, and which backends can run it.

An *artifact* precision is a file of its own (``fp32`` is the export, ``int8`` its quantized copy).
A *compute* precision is a runtime's setting applied to the fp32 file (``bf16``: a backend such as OpenVINO
computes in bfloat16 where the CPU has it). A backend lists what it runs in its ``precisions`` attribute
(default: fp32 only) and is passed ``precision=`` in ``load`` only for a compute precision it lists.
"""
from __future__ import annotations

from typing import Any

from .errors import BackendUnavailableError, InputError

FP32 = "fp32"
PRECISIONS = ("fp32", "int8", "bf16")
# precision -> the artifact it runs
ARTIFACT_PRECISION = {"fp32": "fp32", "int8": "int8", "bf16": "fp32"}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    return precision


def artifact_key(fmt: str, precision: str = FP32) -> str:
    """Key of an artifact in a MANIFEST: the format for fp32 (as before precisions existed), else format-precision."""
    artifact = ARTIFACT_PRECISION[check_precision(precision)]
    return fmt if artifact == FP32 else f"{fmt}-{artifact}"


def is_compute_precision(precision: str) -> bool:
    """True for a precision that is a runtime setting on the fp32 artifact rather than a file of its own."""
    return ARTIFACT_PRECISION[check_precision(precision)] != precision


def backend_precisions(backend: Any) -> tuple[str, ...]:
    return tuple(getattr(backend, "precisions", (FP32,)))


def check_backend_precision(backend: Any, precision: str) -> None:
    """A clear error when ``backend`` cannot run ``precision`` (never a silent run at another precision)."""
    supported = backend_precisions(backend)
    if check_precision(precision) not in supported:
        raise BackendUnavailableError(f"backend {backend.name} does not run {precision}; it runs "
                                      f"{', '.join(supported)} (see `fanzoo backends`)")


def load_options(precision: str) -> dict[str, str]:
    """Extra keyword arguments for ``Backend.load``: the compute precision, if any."""
    return {"precision": precision} if is_compute_precision(precision) else {}
