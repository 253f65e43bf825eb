"""The ONNX Runtime backend passes fanzoo's conformance suite, and imports without nnabla."""
from __future__ import annotations

import subprocess
import sys

from fanzoo.testing import BackendConformance


class TestOnnxRuntimeConformance(BackendConformance):
    backend_name = "onnxruntime"


def test_import_does_not_pull_nnabla() -> None:
    code = ("import sys, fanzoo, fanzoo_onnxruntime, fanzoo.predictor\n"
            "from fanzoo.plugins import plugins\n"
            "assert 'onnxruntime' in plugins().backends\n"
            "assert 'nnabla' not in sys.modules, 'nnabla was imported'\n"
            "assert 'onnxruntime' not in sys.modules, 'registering imported the runtime'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cpu_and_gpu_runtimes_side_by_side_are_refused(tmp_path, monkeypatch) -> None:
    """onnxruntime and onnxruntime-gpu install one module over each other: with both present (a second
    distribution's metadata on the path, as pip leaves it), the backend says which to remove and does not run."""
    import pytest

    from fanzoo.errors import BackendUnavailableError
    from fanzoo_onnxruntime import OnnxRuntimeBackend, installed_runtimes

    present = installed_runtimes()
    other = "onnxruntime-gpu" if "onnxruntime" in present else "onnxruntime"
    info = tmp_path / f"{other.replace('-', '_')}-1.23.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {other}\nVersion: 1.23.2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert set(installed_runtimes()) == {"onnxruntime", "onnxruntime-gpu"}
    backend = OnnxRuntimeBackend()
    assert backend.version() is None
    for status in backend.devices():
        assert not status.available and "both installed" in status.reason and "pip uninstall" in status.reason
    from fanzoo.artifacts import bundled_artifacts
    from fanzoo.weights.tags import lookup

    with pytest.raises(BackendUnavailableError, match="both installed"):
        backend.load(bundled_artifacts(lookup("2dfan-lite").weights) / "model.onnx")
