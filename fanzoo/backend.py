"""The backend contract: an exported artifact in, a session that maps named float32 tensors to tensors out.

A backend knows nothing of faces. The predictor and the conformance suite (fanzoo.testing) only use this.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import ArtifactError, BackendUnavailableError, InputError


@dataclass(frozen=True)
class DeviceStatus:
    """Whether a backend can run on one device here, and if not, what to install."""

    device: str
    available: bool
    reason: str = ""


@runtime_checkable
class Session(Protocol):
    """A loaded network. ``run`` takes and returns float32 arrays keyed by tensor name."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@runtime_checkable
class Backend(Protocol):
    """A plugin-provided runtime. Registering one must not import the runtime."""

    name: str
    artifact_format: str  # "onnx" or "nnp": which exported file it loads
    description: str

    def version(self) -> str | None:
        """Version of the runtime package, or None when it is not installed."""

    def devices(self) -> list[DeviceStatus]:
        """Every device the backend knows, with its availability here."""

    def load(self, artifact: Path, device: str = "cpu", threads: int | None = None) -> Session:
        """Open an artifact. Raises ArtifactError for a missing or foreign file and
        BackendUnavailableError for a device that cannot run here."""


def parse_device(device: str) -> tuple[str, int]:
    """"cpu" -> ("cpu", 0); "cuda" -> ("cuda", 0); "cuda:1" -> ("cuda", 1). Anything else is for the backend to refuse."""
    kind, _, index = str(device).partition(":")
    if index and not index.isdigit():
        raise BackendUnavailableError(f"{device!r} is not a device: use cpu, cuda or cuda:N")
    return kind, int(index or 0)


def check_artifact(path: Path, suffix: str) -> Path:
    """The shared checks every backend makes before handing a file to its runtime."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"artifact not found: {path} (make it with `fanzoo export`)")
    if path.suffix.lower() != suffix:
        raise ArtifactError(f"{path} is not a {suffix} file; this backend loads {suffix} artifacts")
    return path


def check_feeds(feeds: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int | None, ...]]) -> None:
    """Validate names, dtype and shape of inputs before a runtime sees them, so errors read the same
    everywhere. A None in an expected shape accepts any size (the batch axis)."""
    missing = [n for n in shapes if n not in feeds]
    extra = [n for n in feeds if n not in shapes]
    if missing or extra:
        raise InputError(f"inputs must be named {sorted(shapes)}; got {sorted(feeds)}")
    for name, expected in shapes.items():
        array = feeds[name]
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            dtype = getattr(array, "dtype", type(array).__name__)
            raise InputError(f"input {name!r} must be a float32 numpy array, got {dtype}")
        if array.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, array.shape)):
            shown = tuple("N" if e is None else e for e in expected)
            raise InputError(f"input {name!r} must have shape {shown}, got {array.shape}")
        if array.shape[0] == 0:
            raise InputError(f"input {name!r} has an empty batch")
