"""The NNabla backend passes fanzoo's conformance suite."""
from __future__ import annotations

from fanzoo.testing import BackendConformance


class TestNnablaConformance(BackendConformance):
    backend_name = "nnabla"
