"""fanzoo: FAN face alignment (2D and 3D, 68 landmarks), defined once in NNabla and run through backend plugins."""
from __future__ import annotations

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

__all__ = [
    "__version__", "FanzooError", "UnknownModelError", "UnknownBackendError", "BackendUnavailableError",
    "WeightsError", "ChecksumError", "InputError", "ExportError", "ArtifactError",
]
