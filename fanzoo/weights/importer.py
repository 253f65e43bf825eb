"""`fanzoo weights import`: an NNabla .h5, an authors' PyTorch checkpoint or a parameter .npz -> a tag in the cache."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..registry import ModelSpec, WeightTag, local_tag
from .names import torch_element_counts, torch_to_nnabla
from .params import check_params, is_npz, read_npz, write_npz
from .store import WeightsRecord, cached_weights, read_record, sha256_file, write_record
from .tags import TaggedModel, lookup, tag_for_file, user_tag
from .torch_checkpoint import load_torch_state_dict

log = logging.getLogger(__name__)


def read_any_weights(path: Path | str, expected: Mapping[str, tuple[int, ...]] | None = None,
                     model: str = "the model") -> tuple[dict[str, np.ndarray], str]:
    """Parameters in NNabla names from any supported format (NNabla .h5, the authors' PyTorch checkpoint, a
    parameter .npz), and the format's name.

    With ``expected`` (NNabla name -> shape, the graph's), every name and size in the file's header is
    checked against it before any parameter data is read, so memory stays bounded by the model's size.
    """
    from .h5params import is_hdf5

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty")
    if is_hdf5(path):
        from .h5params import read_h5_params

        return {k: np.asarray(v, dtype=np.float32) for k, v in read_h5_params(path, expected, model).items()}, "nnabla-h5"
    if is_npz(path):
        return read_npz(path, expected, model), "npz"
    counts = torch_element_counts(expected) if expected is not None else None
    return torch_to_nnabla(load_torch_state_dict(path, counts, model)), "torch"


def expected_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every parameter the architecture's graph has, in order, with its NNabla shape: from the shipped graph
    (no NNabla needed), or by building the graph for an architecture that ships none."""
    from ..graphs import CONTRACT_FILE, graph_folder, load_shipped
    from ..graphs import expected_shapes as from_graph

    if (graph_folder(spec) / CONTRACT_FILE).is_file():
        return from_graph(load_shipped(spec).load_graph())
    from ..graph import expected_shapes as from_nnabla  # builds the graph: needs nnabla

    try:
        return from_nnabla(spec)
    except ImportError as exc:
        raise WeightsError(f"{spec.name} ships no weight-free graph, so checking weights against it needs "
                           f"NNabla (Python 3.10) ({exc})") from exc


@dataclass(frozen=True)
class Imported:
    """Where a file went: its tag, the cache file, whether it replaced earlier weights of that tag, and the
    ONNX artifact bound from it (None when it could not be made here, with the reason in ``unbound``)."""

    model: TaggedModel
    path: Path
    record: WeightsRecord
    replaced: WeightsRecord | None
    artifact: Path | None = None
    unbound: str = ""


def tag_named(spec: ModelSpec, tag: str) -> WeightTag:
    """The registered tag of that name, else a user's tag (new or already in the cache)."""
    from ..plugins import registry

    reg = registry()
    found = reg.registered_tag(spec.name, tag) or user_tag(spec, tag, reg)
    if found is None:
        default = reg.default_tag(spec.name)
        found = local_tag(spec, tag, subpixel=default.subpixel, tolerance=default.tolerance)
    return found


def import_file(spec: ModelSpec, source: Path | str, tag: str | None = None, subpixel: str | None = None,
                license: str | None = None, bind_onnx: bool = True) -> Imported:
    """Convert, check every name and shape against the graph, then write atomically into the cache.

    The file goes to a registered tag only if it is that tag's published file (by hash); otherwise to
    ``tag`` or ``local``. Nothing in the cache changes unless the whole file is valid.
    """
    source = Path(source)
    params, fmt = read_any_weights(source, expected_shapes(spec), spec.name)  # sizes checked before reading
    digest = sha256_file(source)
    weights = tag_named(spec, tag_for_file(spec, digest, tag))
    if not weights.user and ((subpixel or weights.subpixel) != weights.subpixel or license):
        raise WeightsError(f"{weights.name} is a registered tag: its decoding and licence are the registry's")
    return store_weights(spec, weights, params, source, fmt, digest, subpixel, license, bind_onnx)


def store_weights(spec: ModelSpec, weights: WeightTag, params: dict[str, np.ndarray], source: Path, fmt: str,
                  digest: str, subpixel: str | None = None, license: str | None = None,
                  bind_onnx: bool = True) -> Imported:
    """Check ``params`` against the graph and write them as ``weights`` (the caller chose the tag)."""
    expected = expected_shapes(spec)
    check_params(spec.name, params, expected, str(source))
    from ..decoding import SUBPIXEL_RULES  # not at the top: reading weights needs no image library

    subpixel = subpixel or weights.subpixel
    if subpixel not in SUBPIXEL_RULES:
        raise WeightsError(f"unknown sub-pixel rule {subpixel!r}; known: {', '.join(SUBPIXEL_RULES)}")
    previous = read_record(spec.name, weights.tag)
    target = cached_weights(weights)
    write_npz(target, {name: params[name] for name in expected})
    record = WeightsRecord.now(model=spec.name, tag=weights.tag, weights_sha256=sha256_file(target),
                               source=source.name, source_sha256=digest, source_format=fmt, subpixel=subpixel,
                               license=license or weights.license)
    write_record(record)  # last: a record always describes a complete file
    log.info("imported %s weights for %s from %s into %s", fmt, weights.name, source, target)
    replaced = previous if previous is not None and previous.weights_sha256 != record.weights_sha256 else None
    done = Imported(lookup(weights.name), target, record, replaced)
    return bind(done) if bind_onnx else done


def bind(done: Imported) -> Imported:
    """Fill the shipped ONNX graph with the imported weights, into the cache (seconds; no NNabla)."""
    from dataclasses import replace

    from ..artifacts import find_artifact, make_artifact
    from ..errors import FanzooError
    from ..graphs import CONTRACT_FILE, graph_folder
    from ..plugins import plugins

    if not (graph_folder(done.model.spec) / CONTRACT_FILE).is_file():
        return replace(done, unbound=f"{done.model.spec.name} ships no weight-free graph; the first predict exports it")
    if not any(b.artifact_format == "onnx" for b in plugins().backends.values()):
        return replace(done, unbound="no installed backend runs ONNX (pip install fanzoo-onnxruntime)")
    try:
        found = find_artifact(done.model, "onnx") or make_artifact(done.model, "onnx", announce=log.info)
    except FanzooError as exc:
        raise WeightsError(f"{done.model.name}: the weights were imported into {done.path}, but binding them "
                           f"into the ONNX graph failed: {exc}") from exc
    return replace(done, artifact=found.path)


def import_weights(spec: ModelSpec, source: Path | str, tag: str | None = None) -> Path:
    """:func:`import_file`, returning the cache file."""
    return import_file(spec, source, tag).path
