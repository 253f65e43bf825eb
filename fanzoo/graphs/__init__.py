"""Weight-free ONNX graphs of the registered architectures, with their contract and NNabla's reference outputs.

Each folder is generated from the NNabla definitions by ``tools/make_graphs.py`` (never by hand):
``graph.onnx`` (every parameter initializer named and shaped, without values), ``graph.json`` (tensors,
crop, decoding, tolerance, hashes, the seeded-weights recipe) and ``reference.npz`` (NNabla's outputs
for those seeded weights on real faces). Filling a graph with weights needs onnx, not NNabla.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import io
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError
from ..jsonparse import parse_json
from ..registry import ModelSpec

GRAPH_FILE = "graph.onnx"
CONTRACT_FILE = "graph.json"
REFERENCE_FILE = "reference.npz"
SCHEMA_VERSION = 1
PARAMETER_KINDS = ("conv", "bn", "affine")


def graph_folder(spec: ModelSpec) -> Path:
    """Where ``spec``'s graph lives: ``spec.graph`` ("package:folder"), by default ``fanzoo.graphs:<name>``."""
    package, _, folder = (spec.graph or f"{__name__}:{spec.name}").partition(":")
    try:
        return Path(str(importlib.resources.files(package) / folder))
    except ModuleNotFoundError as exc:
        raise ArtifactError(f"{spec.name}'s graph package {package!r} is not installed") from exc


def is_parameter(name: str) -> bool:
    parts = name.rsplit("/", 2)
    return len(parts) == 3 and parts[1] in PARAMETER_KINDS


@dataclass(frozen=True)
class GraphContract:
    """graph.json: what the shipped graph is, what its artifacts promise, and how its reference was made."""

    model: str
    task: str
    opset: int
    graph_sha256: str
    reference_sha256: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    preprocessing: dict[str, Any] | None  # crop geometry
    decoding: dict[str, Any] | None  # of the architecture's default weights
    tolerance: float  # of the architecture's default weights
    seed: int  # the reference's seeded weights: weights.synthetic with these BatchNorm statistics
    batchnorm: dict[str, list[float]]  # BatchNorm scope -> [mean, var], one value per layer
    output_stride: int  # the reference keeps every output_stride-th heatmap pixel on each axis
    generator: dict[str, str]  # versions that generated it
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        from dataclasses import asdict

        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class ShippedGraph:
    """One architecture's shipped folder, every file checked against the hashes in graph.json before use."""

    folder: Path
    contract: GraphContract

    def graph_bytes(self) -> bytes:
        return _verified(self.folder / GRAPH_FILE, self.contract.graph_sha256)

    def load_graph(self):  # -> onnx.ModelProto
        import onnx

        try:
            return onnx.load_from_string(self.graph_bytes())
        except Exception as exc:  # protobuf's DecodeError and friends
            raise ArtifactError(f"{self.folder / GRAPH_FILE} is not a readable ONNX graph: {exc}") from exc

    def reference_outputs(self) -> np.ndarray:
        """NNabla's output for the seeded weights on the reference faces, subsampled by ``output_stride``."""
        with np.load(io.BytesIO(_verified(self.folder / REFERENCE_FILE, self.contract.reference_sha256)),
                     allow_pickle=False) as data:
            return np.asarray(data["outputs"], dtype=np.float32)


def expected_shapes(graph) -> dict[str, tuple[int, ...]]:
    """Every parameter of a graph (onnx.ModelProto), in order, with the NNabla shape a weights file has."""
    from ..weights.names import nnabla_shape

    return {init.name: nnabla_shape(init.name, tuple(init.dims)) for init in graph.graph.initializer
            if is_parameter(init.name)}


def subsample(outputs: np.ndarray, stride: int) -> np.ndarray:
    """What the reference keeps of an output: heatmaps on a grid (both faces, every landmark), z in full."""
    return outputs[..., ::stride, ::stride] if outputs.ndim == 4 else outputs


def _verified(path: Path, sha256: str) -> bytes:
    if not path.is_file():
        raise ArtifactError(f"{path} is missing; reinstall fanzoo")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{path} does not match the sha256 in its graph.json; reinstall fanzoo")
    return data


def load_shipped(spec: ModelSpec) -> ShippedGraph:
    """The shipped graph of ``spec``, or an ArtifactError that says how to get one."""
    folder = graph_folder(spec)
    path = folder / CONTRACT_FILE
    if not path.is_file():
        raise ArtifactError(f"{spec.name} has no weight-free graph in {folder}, so its weights cannot be bound "
                            "without NNabla; generate one with tools/make_graphs.py where NNabla is installed")
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema version {data.get('schema_version') if isinstance(data, dict) else None}, "
                             f"expected {SCHEMA_VERSION}")
        known = {f.name for f in fields(GraphContract)}
        if set(data) != known:
            raise ValueError(f"fields {sorted(set(data) ^ known)} do not belong")
        contract = GraphContract(**data)
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{path} is damaged ({exc}); reinstall fanzoo") from exc
    if contract.model != spec.name or contract.task != spec.task:
        raise ArtifactError(f"{path} describes {contract.model}, not {spec.name}")
    return ShippedGraph(folder, contract)
