"""fanzoo backend that runs exported ONNX artifacts with ONNX Runtime. Imports onnxruntime only on load()."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from fanzoo.backend import DeviceStatus, check_artifact, check_feeds, parse_device
from fanzoo.errors import ArtifactError, BackendUnavailableError
from fanzoo.hookspecs import hookimpl
from fanzoo.installed import version as installed_version

from . import graph_cache

log = logging.getLogger(__name__)

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
RUNTIMES = ("onnxruntime", "onnxruntime-gpu")  # one `onnxruntime` module: never both at once
INSTALL_HINT = "pip install 'fanzoo-onnxruntime[cpu]' (or [gpu] for CUDA)"


def installed_runtimes() -> dict[str, str]:
    """Which of onnxruntime and onnxruntime-gpu are installed, with their versions."""
    versions = {dist: installed_version(dist) for dist in RUNTIMES}
    return {dist: v for dist, v in versions.items() if v is not None}


def runtime_problem() -> str | None:
    """Why no onnxruntime can be used here, or None."""
    found = installed_runtimes()
    if not found:
        return f"onnxruntime is not installed: {INSTALL_HINT}"
    if len(found) > 1:
        return ("onnxruntime and onnxruntime-gpu are both installed; they provide the same module and overwrite "
                "each other's files: pip uninstall -y onnxruntime onnxruntime-gpu, then " + INSTALL_HINT)
    return None


def _runtime_version() -> str | None:
    found = installed_runtimes()
    return next(iter(found.values()), None) if len(found) == 1 else None


class OnnxRuntimeSession:
    """One InferenceSession; inputs are validated against the model's declared shapes first."""

    def __init__(self, session, threads: int = 0) -> None:
        self._session = session
        self.threads = threads  # intra-op threads asked for; 0: ONNX Runtime's default (one per physical core)
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_names = tuple(o.name for o in session.get_outputs())
        self._shapes = {i.name: tuple(d if isinstance(d, int) else None for d in i.shape)
                        for i in session.get_inputs()}
        self.providers = tuple(session.get_providers())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self._shapes)
        outputs = self._session.run(list(self.output_names), dict(feeds))
        return {name: np.asarray(out, dtype=np.float32) for name, out in zip(self.output_names, outputs)}


class OnnxRuntimeBackend:
    """Runs ``model.onnx`` files. CPU by default; ``device="cuda"`` needs onnxruntime-gpu and a GPU."""

    name = "onnxruntime"
    artifact_format = "onnx"
    precisions = ("fp32", "int8")  # int8: the quantized artifact (fanzoo.export.quantize); no compute precision
    description = "ONNX Runtime (CPUExecutionProvider; CUDAExecutionProvider with onnxruntime-gpu)"

    def version(self) -> str | None:
        return _runtime_version()

    def devices(self) -> list[DeviceStatus]:
        problem = runtime_problem()
        if problem is not None:
            return [DeviceStatus(d, False, problem) for d in PROVIDERS]
        import onnxruntime as ort

        available = set(ort.get_available_providers())
        status = []
        for device, provider in PROVIDERS.items():
            ok = provider in available
            why = "" if ok else (f"{provider} is not in this onnxruntime build; pip uninstall -y onnxruntime, then "
                                 "pip install 'fanzoo-onnxruntime[gpu]' (onnxruntime-gpu, with CUDA 12 and cuDNN 9)")
            status.append(DeviceStatus(device, ok, why))
        return status

    def load(self, artifact: Path, device: str = "cpu", threads: int | None = None) -> OnnxRuntimeSession:
        path = check_artifact(Path(artifact), ".onnx")
        kind, index = parse_device(device)
        if kind not in PROVIDERS or (kind == "cpu" and index):
            raise BackendUnavailableError(f"onnxruntime has no device {device!r}; choose cpu, cuda or cuda:N")
        status = {s.device: s for s in self.devices()}[kind]
        if not status.available:
            # never fall back to the CPU: a user who asked for CUDA must know it is not being used
            raise BackendUnavailableError(f"onnxruntime cannot run on {device} here: {status.reason}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # 0 lets ONNX Runtime pick one thread per physical core
        options.intra_op_num_threads = threads or int(os.environ.get("FANZOO_THREADS", "0"))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # on the CPU, the arena reuses the blocks of the first run; a memory pattern would allocate (and fault in)
        # one more block at the second run: FAN-4 at batch 8, 28,672 page faults and 120 MB more at its peak,
        # with no run measurably faster (2dfan-lite-v2 and FAN-4, batch 1 and 8, alternating, 2026-12-03)
        options.enable_mem_pattern = kind != "cpu"
        # cuda:N picks the GPU by index through the provider's own option
        provider = (PROVIDERS[kind], {"device_id": index}) if kind == "cuda" else PROVIDERS[kind]
        try:
            session = _create_session(ort, path, options, provider)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ArtifactError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from exc
        if kind == "cuda" and PROVIDERS["cuda"] not in session.get_providers():
            raise BackendUnavailableError("onnxruntime created the session without CUDA (driver or cuDNN missing?)")
        return OnnxRuntimeSession(session, options.intra_op_num_threads)


def _create_session(ort, path: Path, options, provider: str | tuple[str, dict]):
    """An InferenceSession, from ONNX Runtime's saved optimized graph when there is one (graph_cache)."""
    if provider != PROVIDERS["cpu"] or not graph_cache.enabled():
        # the CPU is where the cache was measured; a GPU provider's optimized graph is not verified here
        return ort.InferenceSession(str(path), options, providers=[provider])
    final = graph_cache.entry(path, ort.__version__, provider)
    graph = graph_cache.usable(final)
    if graph is None and final.exists():
        log.warning("ignoring the changed or incomplete cached graph %s; optimizing %s again", final, path.name)
    if graph is not None:
        cached = ort.SessionOptions()  # the same settings, without optimizing again
        cached.intra_op_num_threads, cached.inter_op_num_threads = options.intra_op_num_threads, 1
        cached.log_severity_level = options.log_severity_level
        cached.enable_mem_pattern = options.enable_mem_pattern
        cached.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(graph), cached, providers=[provider])
        except Exception as exc:  # a damaged cache entry: say so, drop it, optimize the artifact again
            log.warning("ignoring unreadable cached graph %s (%s)", final, str(exc).splitlines()[0])
    tmp = graph_cache.temporary_folder(final)
    graph_cache.session_options(options, tmp)
    try:
        session = ort.InferenceSession(str(path), options, providers=[provider])
    except BaseException:
        graph_cache.discard(tmp)
        raise
    graph_cache.publish(tmp, final, path)
    return session


@hookimpl
def register_backends(register: Callable[[object], None]) -> None:
    register(OnnxRuntimeBackend())


__all__ = ["OnnxRuntimeBackend", "OnnxRuntimeSession"]
