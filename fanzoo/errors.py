"""Error hierarchy: every failure a user can cause is a FanzooError with a message that says what to do."""
from __future__ import annotations


class FanzooError(Exception):
    """Base of all errors fanzoo raises on purpose. The CLI prints these as one line, no traceback."""

    exit_code: int = 1


class UnknownModelError(FanzooError, KeyError):
    """A model name that is not in the registry."""

    exit_code = 2  # a usage error: the command line names something that does not exist

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownBackendError(FanzooError, KeyError):
    """A backend (or detector) name that no plugin registered."""

    exit_code = 2

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BackendUnavailableError(FanzooError):
    """The backend or device exists but cannot run here (missing package, no CUDA)."""


class WeightsError(FanzooError):
    """Weights are missing, malformed, or do not fit the architecture."""


class WeightsNotFoundError(WeightsError):
    """No local weights for a model; the message says how to get them."""


class ChecksumError(WeightsError):
    """A downloaded or imported file does not have the expected sha256."""


class DownloadError(WeightsError):
    """A download failed (offline, HTTP error); nothing was written to the cache."""


class InputError(FanzooError, ValueError):
    """Bad input data: unreadable image, wrong tensor shape or dtype, bad box."""


class ExportError(FanzooError):
    """An export could not be made or failed its validation; no artifact was written."""


class ArtifactError(FanzooError):
    """An exported artifact is missing, of the wrong format, or fails its manifest."""


def describe_failure(exc: BaseException) -> str:
    """One line for a file that failed, as batch results and logs show it (the caller names the file)."""
    if isinstance(exc, MemoryError):
        return "not enough memory to process this file"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return str(exc)
