"""fanzoo: FAN face alignment (2D and 3D, 68 landmarks), defined once in NNabla and run through backend plugins.

    import fanzoo
    predictor = fanzoo.load_predictor()              # the bundled model, offline
    faces = predictor.predict("photo.jpg")           # list of fanzoo.Face, landmarks as numpy arrays
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ArtifactError,
    BackendUnavailableError,
    ChecksumError,
    ExportError,
    FanzooError,
    InputError,
    UnknownBackendError,
    UnknownModelError,
    WeightsError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .api import load_predictor
    from .batch import PathResult
    from .predictor import Face, Predictor

# Loaded on first use: `import fanzoo` must stay cheap (no OpenCV, no runtime) for plugins and the CLI.
_LAZY = {"load_predictor": ".api", "Predictor": ".predictor", "Face": ".predictor", "PathResult": ".batch"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fanzoo' has no attribute {name!r}")


__all__ = [
    "__version__", "load_predictor", "Predictor", "Face", "PathResult",
    "FanzooError", "UnknownModelError", "UnknownBackendError", "BackendUnavailableError",
    "WeightsError", "ChecksumError", "InputError", "ExportError", "ArtifactError",
]
