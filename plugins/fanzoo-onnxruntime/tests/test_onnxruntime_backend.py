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
