"""Binding: the shipped weight-free FAN-4 graph filled with weights (no NNabla), and the whole artifact made
from an imported file (fill, onnx.checker, write, reference tensors through ONNX Runtime)."""
from __future__ import annotations

from pathlib import Path

import pytest

MODEL = "2dfan4"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    from fanzoo.plugins import get_model
    from fanzoo.weights.synthetic import seeded_params

    return get_model(MODEL), seeded_params(get_model(MODEL), 3)


def test_fill_graph(benchmark, seeded, smoke: bool) -> None:
    from fanzoo.export.binding import fill_graph
    from fanzoo.graphs import load_shipped

    spec, params = seeded
    graph = load_shipped(spec).load_graph()
    benchmark.group = "binding: FAN-4 (95 MB of weights)"
    benchmark.extra_info.update(model=MODEL, kind="fill graph", runtime="onnx", batch=1)
    benchmark.pedantic(lambda: fill_graph(graph, params, spec.name), rounds=1 if smoke else 5)


def test_bind_artifact(benchmark, seeded, smoke: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanzoo.export.binding import bind_model
    from fanzoo.export.sources import own_weights
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.params import write_npz
    from fanzoo.weights.tags import lookup

    spec, params = seeded
    monkeypatch.setenv("FANZOO_HOME", str(tmp_path / "home"))
    write_npz(tmp_path / "weights.npz", params)
    import_file(spec, tmp_path / "weights.npz", bind_onnx=False)
    job = own_weights(lookup(f"{MODEL}.local"))
    benchmark.group = "binding: FAN-4 (95 MB of weights)"
    benchmark.extra_info.update(model=MODEL, kind="bind artifact", runtime="onnxruntime", batch=2)
    manifest = benchmark.pedantic(lambda: bind_model(job, tmp_path / "artifact"), rounds=1 if smoke else 3)
    assert manifest.made_by == "binding"
