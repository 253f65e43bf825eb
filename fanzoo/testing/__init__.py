"""fanzoo's test kit for plugin authors: the backend conformance suite and the artifacts it runs on."""
from __future__ import annotations

from .conformance import ARTIFACTS_ENV, BackendConformance

__all__ = ["ARTIFACTS_ENV", "BackendConformance"]
