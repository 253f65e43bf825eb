"""fanzoo backend that runs exported ONNX artifacts with OpenVINO (which reads .onnx directly).

Imports openvino only when a session is loaded or devices are listed. fp32 is always asked for explicitly:
on CPUs with AVX-512 BF16 or AMX, OpenVINO's CPU plugin otherwise runs bf16 without a word. And fanzoo does
not phone home: `import openvino` imports its model converter, which (unless the user opted out) sends usage
statistics to Google Analytics and writes ~/intel/; this plugin imports openvino with the converter's no-op
telemetry stub instead (when openvino is already imported, it is left as it is).
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fanzoo.backend import DEFAULT_PRECISION, DeviceStatus, check_artifact, check_feeds
from fanzoo.errors import ArtifactError, BackendUnavailableError
from fanzoo.hookspecs import hookimpl
from fanzoo.installed import version as installed_version

DEVICES = {"cpu": "CPU"}  # fanzoo device name -> OpenVINO device
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # fanzoo precision -> OpenVINO INFERENCE_PRECISION_HINT
NOT_INSTALLED = "openvino is not installed: pip install openvino"


def _runtime_version() -> str | None:
    return installed_version("openvino")


def _import_openvino() -> Any:
    if "openvino" not in sys.modules and "openvino_telemetry" not in sys.modules:
        # a None entry makes `import openvino_telemetry` fail, so openvino.tools.ovc falls back to its stub;
        # removed right after, so that code of the user's that imports the package later still can
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
        try:
            import openvino
        finally:
            del sys.modules["openvino_telemetry"]
        return openvino
    import openvino

    return openvino


@functools.cache
def _core() -> Any:
    """One OpenVINO Core per process: it holds the device plugins, and compiling through it is thread-safe."""
    return _import_openvino().Core()


class OpenVinoSession:
    """One compiled model and its infer request. Not thread-safe: give each thread its own session."""

    def __init__(self, compiled: Any, precision: str) -> None:
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self.precision = precision
        self.input_names = tuple(port.get_any_name() for port in compiled.inputs)
        self.output_names = tuple(port.get_any_name() for port in compiled.outputs)
        self._shapes = {port.get_any_name(): tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
                        for port in compiled.inputs}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self._shapes)
        self._request.infer({name: np.ascontiguousarray(array) for name, array in feeds.items()})
        # output tensors are views into the request's buffers, which the next infer overwrites: copy them
        return {name: np.array(self._request.get_output_tensor(i).data, dtype=np.float32, copy=True)
                for i, name in enumerate(self.output_names)}


class OpenVinoBackend:
    """Runs ``model.onnx`` files with OpenVINO on the CPU; ``precision="bf16"`` where the CPU supports it."""

    name = "openvino"
    artifact_format = "onnx"
    description = "OpenVINO (CPU; fp32, or bf16 with precision='bf16' on CPUs with AVX-512 BF16 or AMX)"
    # int8: the quantized artifact (QDQ ONNX, fanzoo.export.quantize), loaded like any file; bf16: a compute
    # precision applied to the fp32 artifact (passed to load as precision="bf16")
    precisions = ("fp32", "int8", "bf16")

    def version(self) -> str | None:
        return _runtime_version()

    def devices(self) -> list[DeviceStatus]:
        if self.version() is None:
            return [DeviceStatus(d, False, NOT_INSTALLED) for d in DEVICES]
        try:
            present = set(_core().available_devices)
        except Exception as exc:  # OpenVINO raises RuntimeError when a device plugin fails to initialise
            return [DeviceStatus(d, False, f"OpenVINO cannot list devices: {exc}") for d in DEVICES]
        return [DeviceStatus("cpu", "CPU" in present, "" if "CPU" in present else "OpenVINO found no CPU plugin")]

    def load(self, artifact: Path, device: str = "cpu", threads: int | None = None,
             precision: str = DEFAULT_PRECISION) -> OpenVinoSession:
        path = check_artifact(Path(artifact), ".onnx")
        if device not in DEVICES:
            raise BackendUnavailableError(f"openvino runs on the cpu here, not {device!r} (fanzoo-openvino is CPU-only)")
        if precision not in PRECISIONS:
            raise BackendUnavailableError(f"openvino has no precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        if self.version() is None:
            raise BackendUnavailableError(NOT_INSTALLED)
        status = {s.device: s for s in self.devices()}[device]
        if not status.available:  # never another device instead: the user asked for this one
            raise BackendUnavailableError(f"openvino cannot run on {device} here: {status.reason}")
        core = _core()
        if precision == "bf16":
            if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
                # OpenVINO would quietly run f32 instead; say so rather than report bf16 numbers that are not
                raise BackendUnavailableError("bf16 needs a CPU with AVX-512 BF16 or AMX; this one has neither, use fp32")
        config = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision], "PERFORMANCE_HINT": "LATENCY",
                  # 0 lets OpenVINO pick (one thread per core)
                  "INFERENCE_NUM_THREADS": int(threads or os.environ.get("FANZOO_THREADS", "0"))}
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError for unreadable or foreign files
            raise ArtifactError(f"openvino cannot read {path}: {str(exc).strip().splitlines()[0]}") from exc
        try:
            compiled = core.compile_model(model, DEVICES[device], config)
        except Exception as exc:  # same: a model the device plugin cannot compile
            raise ArtifactError(f"openvino cannot compile {path} for {device}: {str(exc).strip().splitlines()[0]}") from exc
        return OpenVinoSession(compiled, precision)


@hookimpl
def register_backends(register: Callable[[object], None]) -> None:
    register(OpenVinoBackend())


__all__ = ["OpenVinoBackend", "OpenVinoSession"]
