"""fanzoo backend that runs exported NNP artifacts with NNabla (CPU, or cuDNN with nnabla-ext-cuda)."""
from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fanzoo.backend import DeviceStatus, check_artifact, check_feeds, parse_device
from fanzoo.errors import ArtifactError, BackendUnavailableError
from fanzoo.hookspecs import hookimpl
from fanzoo.installed import version as installed_version

CUDA_HINT = ("NNabla's CUDA extension is not installed: pip install nnabla-ext-cuda120==1.39.0 "
             "(the suffix names your CUDA version) on a machine with an NVIDIA GPU")


def _cuda_extension() -> str | None:
    import importlib.metadata

    return next((d.metadata["name"] for d in importlib.metadata.distributions()
                 if (d.metadata["name"] or "").lower().startswith("nnabla-ext-cuda")), None)


def extension_context(device: str) -> Any:
    from nnabla.ext_utils import get_extension_context

    kind, index = parse_device(device)
    if device == "cpu":
        return get_extension_context("cpu", type_config="float")
    if kind == "cuda":
        if _cuda_extension() is None:
            raise BackendUnavailableError(CUDA_HINT)
        try:
            return get_extension_context("cudnn", device_id=str(index), type_config="float")
        except Exception as exc:  # the extension raises plain RuntimeErrors when no GPU or driver is found
            raise BackendUnavailableError(f"NNabla cannot use CUDA here: {exc}") from exc
    raise BackendUnavailableError(f"nnabla has no device {device!r}; choose cpu, cuda or cuda:N")


class NnablaSession:
    """An NNP file with its own parameter scope (so two models with equal names can coexist)."""

    def __init__(self, path: Path, context: Any) -> None:
        from nnabla.utils.nnp_graph import NnpLoader

        self._context = context
        try:
            self._loader = NnpLoader(str(path), scope=OrderedDict())
            names = self._loader.get_network_names()
        except Exception as exc:  # nnabla reports damaged files with assorted exceptions
            raise ArtifactError(f"nnabla cannot load {path}: {exc}") from exc
        if len(names) != 1:
            raise ArtifactError(f"{path} holds {len(names)} networks; fanzoo artifacts hold one")
        self._name = names[0]
        self._batch_placeholders = [f for f in self._functions()
                                    if f.args and f.args.get("shape") and f.args["shape"][0] == -1]
        first = self._network(1)
        self.input_names = tuple(first.inputs)
        self.output_names = tuple(first.outputs)
        self._shapes = {k: (None, *v.shape[1:]) for k, v in first.inputs.items()}

    def _functions(self) -> list[Any]:
        return list(self._loader.network_dict[self._name].functions.values())

    def _network(self, batch: int) -> Any:
        import nnabla as nn

        cache = self.__dict__.setdefault("_networks", {})
        if batch not in cache:
            # nnabla 1.39 caches each function instance on the loaded proto and overwrites a Reshape's -1
            # batch with the first batch size built; undo both so this batch size gets its own
            for function in self._functions():
                function.function_instance = None
            for function in self._batch_placeholders:
                function.args["shape"] = [-1, *function.args["shape"][1:]]
            with nn.context_scope(self._context):
                cache[batch] = self._loader.get_network(self._name, batch_size=batch)
        return cache[batch]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import nnabla as nn

        check_feeds(feeds, self._shapes)
        batch = len(next(iter(feeds.values())))
        net = self._network(batch)
        with nn.context_scope(self._context):
            for name, value in feeds.items():
                net.inputs[name].d = value
            outputs = list(net.outputs.values())
            nn.forward_all(outputs, clear_buffer=True)
        return {name: np.array(var.d, dtype=np.float32) for name, var in net.outputs.items()}


class NnablaBackend:
    """Runs ``model.nnp``: the CPU context, or cuDNN with ``device="cuda"`` (nnabla-ext-cuda)."""

    name = "nnabla"
    artifact_format = "nnp"
    description = "NNabla (cpu context; cudnn with nnabla-ext-cuda)"

    def version(self) -> str | None:
        return installed_version("nnabla")

    def devices(self) -> list[DeviceStatus]:
        if importlib.util.find_spec("nnabla") is None:
            why = "nnabla is not installed (it exists for Python <= 3.10): pip install nnabla==1.39.0"
            return [DeviceStatus("cpu", False, why), DeviceStatus("cuda", False, why)]
        cuda = _cuda_extension()
        return [DeviceStatus("cpu", True), DeviceStatus("cuda", cuda is not None, "" if cuda else CUDA_HINT)]

    def load(self, artifact: Path, device: str = "cpu", threads: int | None = None) -> NnablaSession:
        path = check_artifact(Path(artifact), ".nnp")
        if importlib.util.find_spec("nnabla") is None:
            raise BackendUnavailableError("nnabla is not installed (Python <= 3.10 only): pip install nnabla==1.39.0")
        return NnablaSession(path, extension_context(device))


@hookimpl
def register_backends(register: Callable[[object], None]) -> None:
    register(NnablaBackend())


__all__ = ["NnablaBackend", "NnablaSession"]
