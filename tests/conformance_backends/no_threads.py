"""Written to the old README: ``load(path, device)``, without the ``threads`` the core passes."""
from pathlib import Path

from fanzoo.hookspecs import hookimpl

from .opencv_dnn import OpenCvDnnBackend


class NoThreads(OpenCvDnnBackend):
    def load(self, artifact: Path, device: str = "cpu"):  # type: ignore[override]
        return super().load(artifact, device)


@hookimpl
def register_backends(register) -> None:
    register(NoThreads("no-threads", fusion=False))
