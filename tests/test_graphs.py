"""The shipped weight-free graphs: they match the registry, binding seeded weights into them reproduces what
NNabla computed from the same seeds, and (where NNabla is installed) they are what the definitions produce."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from fanzoo.export.reference import reference_inputs, relative_error
from fanzoo.graphs import CONTRACT_FILE, GRAPH_FILE, expected_shapes, load_shipped, subsample
from fanzoo.plugins import registry, use_plugins

from .tiny import TinyPlugin, tiny_3d_spec, tiny_spec

ARCHITECTURES = [spec.name for spec in registry()]


def run_onnx(model, inputs: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


TINY = {"tinyfan": tiny_spec(), "tiny3d": tiny_3d_spec()}  # their graphs: tests/fixtures/graphs


def spec_of(name: str):
    return TINY[name] if name in TINY else registry().get(name)


def registered(name: str):
    """The tests' toy FANs join the registry; the built-in architectures are there already."""
    import contextlib

    from fanzoo.plugins import Plugins, make_plugin_manager

    if name not in TINY:
        return contextlib.nullcontext()
    return use_plugins(Plugins.collect(make_plugin_manager(extra=(TinyPlugin(*TINY.values()),))))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_contract_matches_the_registry(name: str) -> None:
    from dataclasses import asdict

    from fanzoo.export.manifest import tensor_specs

    spec, default = registry().get(name), registry().default_tag(name)
    shipped = load_shipped(spec)
    c = shipped.contract
    assert c.inputs == tensor_specs(spec.inputs) and c.outputs == tensor_specs(spec.outputs)
    assert c.preprocessing == (json.loads(json.dumps(asdict(spec.preprocessing))) if spec.preprocessing else None)
    assert c.tolerance == default.tolerance
    assert c.decoding == ({"subpixel": default.subpixel} if spec.task == "landmarks" else None)
    graph = shipped.load_graph()
    shapes = expected_shapes(graph)
    assert sum(int(np.prod(s)) for s in shapes.values()) == spec.params
    # weight-free: no parameter initializer holds data
    assert all(not init.raw_data and not init.float_data for init in graph.graph.initializer if init.name in shapes)
    assert len(shipped.graph_bytes()) < 200_000


@pytest.mark.parametrize("name", [*ARCHITECTURES, *TINY])
def test_binding_seeded_weights_reproduces_nnabla(name: str) -> None:
    """The proof behind every binding: NNabla computed the shipped reference from these seeded weights."""
    from fanzoo.export.binding import fill_graph
    from fanzoo.weights.synthetic import seeded_params

    spec = spec_of(name)
    with registered(name):
        shipped = load_shipped(spec)
        params = seeded_params(spec, shipped.contract.seed)
        started = time.perf_counter()
        model = fill_graph(shipped.load_graph(), params, spec.name)
        bound_seconds = time.perf_counter() - started
        inputs = reference_inputs(spec)
        full = run_onnx(model, inputs)
        singles = np.concatenate([run_onnx(model, inputs[i:i + 1]) for i in range(len(inputs))])
        ours = subsample(full, shipped.contract.output_stride)
    reference = shipped.reference_outputs()
    assert ours.shape == reference.shape
    assert relative_error(ours, reference) <= shipped.contract.tolerance
    # the graph's batch axis is really dynamic: one face at a time gives the same numbers
    assert relative_error(singles, full) <= shipped.contract.tolerance
    assert np.abs(reference).max() > 1.0  # the reference is far from trivially small
    print(f"{name}: filled in {bound_seconds:.2f} s")


def test_a_tampered_graph_is_refused(tmp_path: Path) -> None:
    import shutil

    from fanzoo.errors import ArtifactError

    copy = tmp_path / "tinyfan"
    shutil.copytree(Path(__file__).parent / "fixtures" / "graphs" / "tinyfan", copy)
    assert _load_from(copy).load_graph()
    data = bytearray((copy / GRAPH_FILE).read_bytes())
    data[-5] ^= 1
    (copy / GRAPH_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        _load_from(copy).load_graph()


def _load_from(folder: Path):
    from fanzoo.graphs import GraphContract, ShippedGraph

    return ShippedGraph(folder, GraphContract(**json.loads((folder / CONTRACT_FILE).read_text())))


@pytest.mark.parametrize("content", ["{not json", "[]", '{"schema_version": 1}', "[" * 100_000 + "]" * 100_000],
                         ids=["not json", "a list", "fields missing", "nested too deeply"])
def test_a_damaged_contract_is_one_error(content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fanzoo.graphs
    from fanzoo.errors import ArtifactError

    (tmp_path / CONTRACT_FILE).write_text(content)
    monkeypatch.setattr(fanzoo.graphs, "graph_folder", lambda spec: tmp_path)
    with pytest.raises(ArtifactError, match="is damaged .*reinstall fanzoo"):
        load_shipped(tiny_spec())


def test_missing_graph_says_how_to_make_one() -> None:
    from dataclasses import replace

    from fanzoo.errors import ArtifactError

    with pytest.raises(ArtifactError, match="tools/make_graphs.py"):
        load_shipped(replace(tiny_spec(), graph="tests:fixtures/graphs/nothing"))


@pytest.mark.slow
@pytest.mark.parametrize("name", [*ARCHITECTURES, *TINY])
def test_shipped_graph_is_what_the_definitions_produce(name: str, tmp_path: Path) -> None:
    """Regenerate from the NNabla definitions: the graph byte for byte, the numbers within float noise.

    The generator also checks that filling the stripped graph with the seeded weights gives back
    nnabla-converter's own export byte for byte, so binding equals a fresh NNabla export for every model.
    """
    pytest.importorskip("nnabla")
    from fanzoo.export.binding import fill_graph
    from fanzoo.export.weightfree import generate_all
    from fanzoo.weights.synthetic import seeded_params

    spec = spec_of(name)
    with registered(name):
        fresh = generate_all(tmp_path, [name])[0]
        shipped = load_shipped(spec)
        regenerated = _load_from(tmp_path / name)
        assert (tmp_path / name / GRAPH_FILE).read_bytes() == shipped.graph_bytes(), \
            f"fanzoo/graphs/{name} is stale: run tools/make_graphs.py"
        old, new = shipped.contract, fresh
        for field in ("model", "task", "opset", "graph_sha256", "inputs", "outputs", "preprocessing", "decoding",
                      "tolerance", "seed", "output_stride"):
            assert getattr(old, field) == getattr(new, field), f"{name}: {field} changed; run tools/make_graphs.py"
        assert old.batchnorm.keys() == new.batchnorm.keys()
        # float noise, as every other comparison here: relative to the largest value of each statistic (a mean
        # near zero differs by more than 1e-5 of itself when another CPU sums in another order, e.g. AVX2)
        stats_old = np.array([old.batchnorm[k] for k in sorted(old.batchnorm)], dtype=np.float64)
        stats_new = np.array([new.batchnorm[k] for k in sorted(old.batchnorm)], dtype=np.float64)
        assert (np.abs(stats_new - stats_old).max(axis=0) <= 1e-5 * np.abs(stats_old).max(axis=0)).all()
        assert relative_error(regenerated.reference_outputs(), shipped.reference_outputs()) <= 1e-5
        # and ONNX Runtime on the bound graph against NNabla's fresh forward pass, other seeds included
        for seed in (old.seed, old.seed + 100):
            bound = fill_graph(shipped.load_graph(), seeded_params(spec, seed), spec.name)
            ours = run_onnx(bound, reference_inputs(spec))
            theirs = nnabla_forward(spec, seeded_params(spec, seed))
            assert relative_error(ours, theirs) <= old.tolerance


def nnabla_forward(spec, params) -> np.ndarray:
    from fanzoo.graph import assign, build

    inputs = reference_inputs(spec)
    net = build(spec, len(inputs))
    assign(net, params)
    return net.forward(inputs)
