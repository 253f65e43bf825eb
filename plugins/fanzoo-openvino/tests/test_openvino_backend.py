"""The OpenVINO backend passes fanzoo's conformance suite unchanged, and its bf16 precision is what it says."""
from __future__ import annotations

import numpy as np
import pytest

from fanzoo.backend import load_session
from fanzoo.errors import BackendUnavailableError
from fanzoo.export import reference
from fanzoo.plugins import plugins
from fanzoo.testing import BackendConformance
from fanzoo.testing.coverage import coverage_folders


class TestOpenVinoConformance(BackendConformance):
    backend_name = "openvino"


def _bf16_supported() -> bool:
    from fanzoo_openvino import _core

    return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_fp32_is_asked_for_explicitly() -> None:
    """On CPUs with AVX-512 BF16 or AMX, OpenVINO's own default is bf16; fanzoo's fp32 session must be f32."""
    backend = plugins().backend("openvino")
    session = load_session(backend, coverage_folders()[0] / "model.onnx", "cpu", None)
    assert str(session._compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")


def test_bf16_runs_in_bf16_and_stays_close() -> None:
    """bf16 is a real, lower precision: its error against the reference is well above fp32's, but bounded."""
    backend = plugins().backend("openvino")
    if not _bf16_supported():
        with pytest.raises(BackendUnavailableError, match="bf16"):
            load_session(backend, coverage_folders()[0] / "model.onnx", "cpu", None, precision="bf16")
        pytest.skip("this CPU has no bf16: checked that asking for it is an error")
    for folder in coverage_folders():
        inputs, outputs = reference.read_test_data_set(reference.test_data_sets(folder)[0])
        (name, expected), = outputs.items()
        fp32 = load_session(backend, folder / "model.onnx", "cpu", None).run(inputs)[name]
        bf16_session = load_session(backend, folder / "model.onnx", "cpu", None, precision="bf16")
        assert str(bf16_session._compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'bfloat16'>", "bf16")
        bf16 = bf16_session.run(inputs)[name]
        assert bf16.dtype == np.float32
        fp32_error, bf16_error = reference.relative_error(fp32, expected), reference.relative_error(bf16, expected)
        # bf16 keeps 8 bits of mantissa (4e-3 relative per value) and errors add up over the layers: measured
        # 0.032 (coverage-fan) and 0.106 (coverage-resnetdepth) of the output range, against 2e-6 and 7e-6 at fp32
        assert fp32_error < 1e-4 and 1e-3 < bf16_error < 0.5, (folder.name, fp32_error, bf16_error)


def test_no_telemetry_is_sent_or_written(tmp_path) -> None:
    """`import openvino` alone writes ~/intel/ and tries to send usage statistics to Google Analytics; through the
    plugin, neither happens (a fresh interpreter with an empty home)."""
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom fanzoo.plugins import plugins\nfrom fanzoo.testing.coverage import coverage_folders\n"
            "backend = plugins().backend('openvino')\n"
            "assert not any(m.split('.')[0] == 'openvino' for m in sys.modules), 'registering imported openvino'\n"
            "backend.load(coverage_folders()[0] / 'model.onnx').run\n"
            "assert 'openvino' in sys.modules and 'openvino_telemetry' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HOME": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []
