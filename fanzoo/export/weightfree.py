"""Generate the weight-free graphs that ship in ``fanzoo/graphs`` from the NNabla definitions (needs NNabla).

For one architecture: seeded weights (``weights.synthetic``) with BatchNorm statistics calibrated on the
reference faces and pooled to one mean and variance per layer (a recipe numpy can repeat without
NNabla), NNabla's forward pass on those faces (the reference), and nnabla-converter's ONNX export with
every parameter's values removed. The export is proven lossless before anything is written: filling the
stripped graph with the same weights must give back the converter's model byte for byte.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..errors import ExportError
from ..graphs import CONTRACT_FILE, GRAPH_FILE, REFERENCE_FILE, GraphContract, subsample
from ..registry import ModelSpec
from .binding import fill_graph, strip_graph
from .manifest import tensor_specs
from .onnx_convert import DEFAULT_OPSET, check_float32, nnp_to_onnx_model
from .reference import reference_inputs

log = logging.getLogger(__name__)

SEED = 7  # the same for every architecture: parameter names already give each tensor its own stream
REFERENCE_GRID = 8  # heatmap samples per axis kept in reference.npz (all faces, all landmarks)


def pooled_batchnorm(calibrated: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """One (mean, variance) per BatchNorm layer: the statistics of all its channels pooled together."""
    pooled = {}
    for name, mean in calibrated.items():
        if name.endswith("/bn/mean"):
            scope = name[: -len("/mean")]
            var = calibrated[scope + "/var"]
            m = np.float32(mean.mean(dtype=np.float64))
            v = np.float32((var + (mean - m) ** 2).mean(dtype=np.float64))
            pooled[scope] = [float(m), float(v)]
    return pooled


def _versions() -> dict[str, str]:
    return {dist: importlib.metadata.version(dist) for dist in ("nnabla", "nnabla-converter", "onnx")}


def generate(spec: ModelSpec, tolerance: float, subpixel: str | None, folder: Path) -> GraphContract:
    """Write ``folder`` (graph.onnx, graph.json, reference.npz) for ``spec``, atomically."""
    import onnx

    from ..graph import assign, build, calibrate_batchnorm, expected_shapes
    from ..weights.synthetic import seeded_params, synthetic_params
    from .nnp import save_nnp

    inputs = reference_inputs(spec)
    calibrated = calibrate_batchnorm(spec, synthetic_params(expected_shapes(spec), SEED), inputs)
    batchnorm = pooled_batchnorm(calibrated)
    params = seeded_params(spec, SEED, batchnorm)
    net = build(spec, len(inputs))
    assign(net, params, f"{spec.name} seed {SEED}")
    outputs = net.forward(inputs)
    if not np.all(np.isfinite(outputs)):
        raise ExportError(f"{spec.name}: the seeded reference outputs are not finite")
    stride = max(1, outputs.shape[-1] // REFERENCE_GRID) if outputs.ndim == 4 else 1
    reference = io.BytesIO()
    np.savez_compressed(reference, outputs=subsample(outputs, stride))

    with atomic_dir(folder) as tmp:
        save_nnp(net, tmp / "model.nnp")
        full = nnp_to_onnx_model(tmp / "model.nnp", DEFAULT_OPSET, dynamic_batch=True)
        (tmp / "model.nnp").unlink()
        full.doc_string = ""  # the converter leaves a timestamped log line here
        check_float32(full)
        onnx.checker.check_model(full, full_check=True)
        stripped = strip_graph(full)
        if fill_graph(stripped, params, spec.name).SerializeToString() != full.SerializeToString():
            raise ExportError(f"{spec.name}: the stripped graph filled with its own weights is not the converter's "
                              "model; the binding would be wrong")
        graph = stripped.SerializeToString()
        (tmp / GRAPH_FILE).write_bytes(graph)
        (tmp / REFERENCE_FILE).write_bytes(reference.getvalue())
        contract = GraphContract(
            model=spec.name, task=spec.task, opset=DEFAULT_OPSET, graph_sha256=hashlib.sha256(graph).hexdigest(),
            reference_sha256=hashlib.sha256(reference.getvalue()).hexdigest(), inputs=tensor_specs(spec.inputs),
            outputs=tensor_specs(spec.outputs),
            preprocessing=json.loads(json.dumps(asdict(spec.preprocessing))) if spec.preprocessing else None,
            decoding={"subpixel": subpixel} if subpixel else None, tolerance=tolerance, seed=SEED,
            batchnorm=batchnorm, output_stride=stride, generator=_versions())
        (tmp / CONTRACT_FILE).write_text(contract.to_json(), encoding="utf-8")
    log.info("%s: graph %d bytes, reference %d bytes", spec.name, len(graph), len(reference.getvalue()))
    return contract


def generate_all(out: Path, names: list[str] | None = None) -> list[GraphContract]:
    """Every registered architecture (or ``names``), each into ``out/<name>``."""
    from ..plugins import registry

    reg = registry()
    specs = [reg.get(n) for n in names] if names else list(reg)
    made = []
    for spec in specs:
        default = reg.default_tag(spec.name)
        made.append(generate(spec, default.tolerance, default.subpixel if spec.task == "landmarks" else None,
                             out / spec.name))
    return made
