"""fanzoo's test kit for plugin authors: the backend conformance suite and the artifacts it runs on."""
from __future__ import annotations

from .artifacts import ARTIFACTS_ENV
from .conformance import BackendConformance, export_test_artifacts, quantize_test_artifact

__all__ = ["ARTIFACTS_ENV", "BackendConformance", "export_test_artifacts", "quantize_test_artifact"]
