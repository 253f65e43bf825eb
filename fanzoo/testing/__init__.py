"""fanzoo's test kit for plugin authors: the backend conformance suite and the artifacts it runs on."""
from __future__ import annotations

from .artifacts import ARTIFACTS_ENV, export_test_artifacts, quantize_test_artifact
from .conformance import BackendConformance

__all__ = ["ARTIFACTS_ENV", "BackendConformance", "export_test_artifacts", "quantize_test_artifact"]
