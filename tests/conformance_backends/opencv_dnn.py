"""A real OpenCV DNN backend (CPU), as a third-party author would write it; ``fusion`` is OpenCV's layer fusion.

OpenCV 4.11 fuses ResNetDepth's first residual Add into the preceding convolution; after a change of batch
size that fused layer returns garbage (z off by up to ~1e20) with no error. ``enableFusion(False)`` avoids it.
"""
from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fanzoo.backend import DeviceStatus, check_artifact, check_feeds
from fanzoo.errors import ArtifactError, BackendUnavailableError


def onnx_inputs(path: Path) -> dict[str, tuple[int | None, ...]]:
    """Graph inputs (not initializers) and their shapes, a symbolic dimension as None."""
    import onnx

    graph = onnx.load(str(path)).graph
    constants = {i.name for i in graph.initializer}
    return {v.name: tuple(d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim)
            for v in graph.input if v.name not in constants}


class OpenCvSession:
    def __init__(self, net: Any, path: Path) -> None:
        self._net = net
        self._shapes = onnx_inputs(path)
        self.input_names = tuple(self._shapes)
        self.output_names = tuple(net.getUnconnectedOutLayersNames())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self._shapes)
        for name, array in feeds.items():
            self._net.setInput(np.ascontiguousarray(array), name)
        outputs = self._net.forward(list(self.output_names))
        return {name: np.array(out, dtype=np.float32, copy=True) for name, out in zip(self.output_names, outputs)}


class OpenCvDnnBackend:
    artifact_format = "onnx"

    def __init__(self, name: str, fusion: bool, description: str | None = "OpenCV DNN (CPU), in fanzoo's tests") -> None:
        self.name = name
        self.fusion = fusion
        if description is not None:  # None leaves the attribute out, as a careless plugin would
            self.description = description

    def version(self) -> str | None:
        try:
            return importlib.metadata.version("opencv-python-headless")
        except importlib.metadata.PackageNotFoundError:
            return None

    def devices(self) -> list[DeviceStatus]:
        return [DeviceStatus("cpu", self.version() is not None, "pip install opencv-python-headless")]

    def load(self, artifact: Path, device: str = "cpu", threads: int | None = None) -> OpenCvSession:
        path = check_artifact(Path(artifact), ".onnx")
        if device != "cpu":
            raise BackendUnavailableError(f"this OpenCV backend has no device {device!r}; it runs on cpu")
        import cv2

        try:
            net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise ArtifactError(f"OpenCV cannot read {path}: {str(exc).strip().splitlines()[-1]}") from exc
        net.enableFusion(self.fusion)
        if threads:
            cv2.setNumThreads(threads)
        return OpenCvSession(net, path)
