"""Fill a shipped weight-free graph with weights, by parameter name: an ONNX model without NNabla.

The layout each initializer needs comes from ``weights.names`` (the one place the layouts are mapped);
every name and shape is checked first, and nothing is filled unless all of them fit.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..errors import ArtifactError, ExportError
from ..graphs import expected_shapes, is_parameter, load_shipped
from ..registry import ModelSpec
from ..weights.names import to_onnx_layout
from ..weights.params import check_params
from .folder import FORMATS, carried_entries, make_manifest, validation_backend
from .graph_passes import optimize
from .manifest import ArtifactEntry, Manifest
from .reference import reference_inputs, write_test_data_set
from .sources import WeightsJob

log = logging.getLogger(__name__)


def fill_graph(graph, params: Mapping[str, np.ndarray], model: str, source: str = "weights"):
    """A copy of ``graph`` (onnx.ModelProto) with every parameter initializer holding its value."""
    import onnx

    check_params(model, params, expected_shapes(graph), source)
    filled = onnx.ModelProto()
    filled.CopyFrom(graph)
    for init in filled.graph.initializer:
        if not is_parameter(init.name):
            continue
        if init.data_type != onnx.TensorProto.FLOAT:
            raise ArtifactError(f"the graph's initializer {init.name!r} is not float32")
        array = to_onnx_layout(init.name, params[init.name])
        if tuple(array.shape) != tuple(init.dims):
            raise ArtifactError(f"{init.name!r}: {array.shape} does not fit the graph's {tuple(init.dims)}")
        init.raw_data = array.astype("<f4", copy=False).tobytes()
    return filled


def strip_graph(model):
    """A copy of an ONNX model (onnx.ModelProto) whose parameter initializers keep names and shapes only."""
    import onnx

    stripped = onnx.ModelProto()
    stripped.CopyFrom(model)
    for init in stripped.graph.initializer:
        if is_parameter(init.name):
            for data in ("raw_data", "float_data", "external_data", "data_location"):
                init.ClearField(data)
    return stripped


def bind_model(job: WeightsJob, folder: Path, depth_tag: str | None = None) -> Manifest:
    """A complete ONNX artifact in ``folder`` (atomically): the shipped graph filled with ``job``'s weights,
    onnx.checker-checked, with MANIFEST, sha256 and reference tensors.

    The reference tensors are the bound model's own outputs on the reference faces (there is no NNabla
    here to compute them), checked to be finite. That the graph computes what NNabla computes, at any
    batch size, is a property of the shipped graph that tests/test_graphs.py proves once for all weights; that
    the exact rewrite applied after filling (export.graph_passes) keeps it so, tests/test_graph_passes.py.
    """
    import onnx

    spec = job.model.spec
    shipped = load_shipped(spec)
    started = time.perf_counter()
    model = fill_graph(shipped.load_graph(), job.params(), spec.name, str(job.path or job.model.name))
    passes = optimize(model)  # on the filled model: the shipped graph stays fillable by parameter name
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    del model
    inputs = reference_inputs(spec)
    with atomic_dir(folder) as tmp:
        artifact = tmp / FORMATS["onnx"]
        artifact.write_bytes(data)
        outputs = _finite_outputs(spec, artifact, inputs)
        write_test_data_set(tmp / "test_data_set_0", [(spec.inputs[0].name, inputs)],
                            [(spec.outputs[0].name, outputs)])
        entries = {"onnx": ArtifactEntry("onnx", FORMATS["onnx"], hashlib.sha256(data).hexdigest(),
                                         shipped.contract.opset, "dynamic", None, graph_passes=passes)}
        entries.update(carried_entries(folder, tmp, "onnx", job))
        manifest = make_manifest(job, entries, "binding", True, depth_tag, shipped.contract.graph_sha256)
        manifest.write(tmp)
    log.info("bound %s into %s in %.1f s", job.model.name, folder, time.perf_counter() - started)
    return manifest


def _finite_outputs(spec: ModelSpec, artifact: Path, inputs: np.ndarray) -> np.ndarray:
    session = validation_backend("onnx").load(artifact, device="cpu")
    outputs = session.run({spec.inputs[0].name: inputs})[spec.outputs[0].name]
    if not np.all(np.isfinite(outputs)):
        raise ExportError(f"{spec.name}: the weights give NaN or infinite outputs on the reference faces; "
                          "they were not bound")
    return outputs
