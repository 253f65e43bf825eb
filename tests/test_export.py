"""Export: every model to NNP and ONNX (NNabla), or to ONNX by filling the shipped graph (any Python); atomic,
with manifest and reference tensors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fanzoo.errors import ExportError, WeightsNotFoundError
from fanzoo.export.manifest import read_manifest
from fanzoo.export.reference import read_test_data_set, relative_error
from fanzoo.plugins import registry, use_plugins

from .conftest import FIXTURES, needs_nnabla
from .tiny import plugins_with, tiny_spec, tiny_tag

ort = pytest.importorskip("onnxruntime")
# how ONNX artifacts are made: nnabla-converter (Python 3.10), or filling the shipped weight-free graph
METHODS = [pytest.param(False, marks=needs_nnabla, id="nnabla"), pytest.param(True, id="bind")]

ALL_MODELS = [s.name for s in registry()]


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture
def tiny(tmp_path: Path):
    with use_plugins(plugins_with(tiny_spec(), tiny_tag())) as p:
        yield p.models.get("tinyfan")


@pytest.mark.parametrize("bind", METHODS)
def test_manifest_and_reference_tensors(tiny, tmp_path: Path, bind: bool) -> None:
    from fanzoo.export.exporter import export

    export("tinyfan", "onnx", tmp_path, random_seed=3, bind=bind)
    folder = tmp_path / "tinyfan"
    manifest = read_manifest(folder)
    raw = json.loads((folder / "MANIFEST.json").read_text())
    for key in ("model", "tag", "inputs", "outputs", "dynamic_axes", "tolerance", "weights_sha256", "fanzoo_version",
                "created", "artifacts", "preprocessing", "decoding", "license", "made_by"):
        assert key in raw
    assert manifest.tag == "seed-3" and manifest.decoding == {"subpixel": "quarter"}
    assert manifest.made_by == ("binding" if bind else "nnabla-export")
    assert (manifest.graph_sha256 is not None) == bind and (manifest.entry("onnx").max_relative_error is None) == bind
    entry = manifest.entry("onnx")
    assert entry.opset == 13 and entry.batch == "dynamic" and len(entry.sha256) == 64
    assert manifest.weights_sha256 == "random:3"
    inputs, outputs = read_test_data_set(folder / "test_data_set_0")
    x = inputs["x"]
    assert x.shape[1:] == (3, 64, 64) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    got = ort_run(folder / "model.onnx", x)
    assert relative_error(got, outputs["heatmaps"]) <= manifest.tolerance
    import onnx
    model = onnx.load(str(folder / "model.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert all(init.data_type == onnx.TensorProto.FLOAT for init in model.graph.initializer)


@needs_nnabla
def test_both_formats_share_one_folder(tiny, tmp_path: Path) -> None:
    from fanzoo.export.exporter import export

    export("tinyfan", "onnx", tmp_path, random_seed=3)
    export("tinyfan", "nnp", tmp_path, random_seed=3)
    assert set(read_manifest(tmp_path / "tinyfan").artifacts) == {"onnx", "nnp"}
    export("tinyfan", "nnp", tmp_path, random_seed=4)  # other weights: the stale ONNX must go
    manifest = read_manifest(tmp_path / "tinyfan")
    assert set(manifest.artifacts) == {"nnp"} and not (tmp_path / "tinyfan" / "model.onnx").exists()


def test_binding_refuses_what_only_nnabla_makes(tiny, tmp_path: Path) -> None:
    from fanzoo.export.exporter import export

    for options in ({"batch": 3}, {"opset": 11}):
        with pytest.raises(ExportError, match="need NNabla"):
            export("tinyfan", "onnx", tmp_path, random_seed=3, bind=True, **options)
    with pytest.raises(ExportError, match="NNP export needs NNabla"):
        export("tinyfan", "nnp", tmp_path, random_seed=3, bind=True)
    assert not (tmp_path / "tinyfan").exists()


@needs_nnabla
def test_fixed_batch(tiny, tmp_path: Path) -> None:
    from fanzoo.export.exporter import export

    export("tinyfan", "onnx", tmp_path, random_seed=3, batch=3)
    assert read_manifest(tmp_path / "tinyfan").entry("onnx").batch == "3"
    x = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    assert ort_run(tmp_path / "tinyfan" / "model.onnx", x).shape == (3, 68, 16, 16)


@pytest.mark.parametrize("bind", METHODS)
@pytest.mark.parametrize("opset", [7, 9, 12, 14, 17])
def test_unsupported_opset_is_refused(tiny, tmp_path: Path, opset: int, bind: bool) -> None:
    from fanzoo.export.exporter import export

    with pytest.raises(ExportError, match="opset"):
        export("tinyfan", "onnx", tmp_path, random_seed=3, opset=opset, bind=bind)
    assert not (tmp_path / "tinyfan").exists()


@needs_nnabla
@pytest.mark.parametrize("opset", [10, 11])
def test_other_supported_opsets(tiny, tmp_path: Path, opset: int) -> None:
    from fanzoo.export.exporter import export

    export("tinyfan", "onnx", tmp_path, random_seed=3, opset=opset)
    import onnx
    assert onnx.load(str(tmp_path / "tinyfan" / "model.onnx")).opset_import[0].version == opset


@needs_nnabla
def test_converter_silent_downgrade_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """nnabla-converter writes opset 7 for opsets it has no table for; the written opset is checked."""
    from fanzoo.export import onnx_convert
    from fanzoo.export.exporter import export

    export("resnetdepth", "nnp", tmp_path, random_seed=1)
    monkeypatch.setattr(onnx_convert, "SUPPORTED_OPSETS", (12,))  # pretend 12 were allowed up front
    with pytest.raises(ExportError, match="wrote opset 7 instead of the requested 12"):
        onnx_convert.nnp_to_onnx_model(tmp_path / "resnetdepth" / "model.nnp", 12, dynamic_batch=True)


@needs_nnabla
def test_failed_export_keeps_the_good_artifact(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanzoo.export import exporter

    exporter.export("tinyfan", "onnx", tmp_path, random_seed=3)
    before = (tmp_path / "tinyfan" / "model.onnx").read_bytes()
    strict = tiny_tag(tolerance=1e-30)  # nothing can meet this: validation must fail
    with use_plugins(plugins_with(tiny, strict)), pytest.raises(ExportError, match="tolerance"):
        exporter.export("tinyfan", "onnx", tmp_path, random_seed=5)
    assert (tmp_path / "tinyfan" / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tinyfan"]  # no temporary folders left


def test_failed_binding_keeps_the_good_artifact(tiny, tmp_path: Path) -> None:
    from fanzoo.export.exporter import export
    from fanzoo.weights.params import write_npz
    from fanzoo.weights.synthetic import seeded_params

    export("tinyfan", "onnx", tmp_path, random_seed=3, bind=True)
    before = (tmp_path / "tinyfan" / "model.onnx").read_bytes()
    exploding = seeded_params(tiny, 3)
    exploding["conv1/conv/W"] = exploding["conv1/conv/W"] * np.float32(1e37)  # overflows to inf on real faces
    write_npz(tmp_path / "bad.npz", exploding)
    with pytest.raises(ExportError, match="infinite outputs"):
        export("tinyfan", "onnx", tmp_path, weights=tmp_path / "bad.npz", bind=True)
    assert (tmp_path / "tinyfan" / "model.onnx").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "tinyfan"]  # no temporary folders left


def test_no_weights_says_how_to_get_them(tmp_path: Path) -> None:
    from fanzoo.export.exporter import export

    with pytest.raises(WeightsNotFoundError, match="fanzoo weights fetch 2dfan4.official"):
        export("2dfan4", "onnx", tmp_path)
    # a 3D model names its missing depth network before any work
    with pytest.raises(WeightsNotFoundError, match="resnetdepth.local"):
        export("3dfan4", "onnx", tmp_path, weights=FIXTURES / "tiny_fan_zip.pth")
    assert not list(tmp_path.iterdir())


@needs_nnabla
@pytest.mark.slow
@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_model_exports_to_nnp_and_onnx(model: str, tmp_path: Path) -> None:
    from nnabla.utils.nnp_graph import NnpLoader

    from fanzoo.export.exporter import export

    export(model, "nnp", tmp_path, random_seed=11)
    export(model, "onnx", tmp_path, random_seed=11)
    folder = tmp_path / registry().get(model).name
    manifest = read_manifest(folder)
    assert set(manifest.artifacts) == {"nnp", "onnx"}
    inputs, outputs = read_test_data_set(folder / "test_data_set_0")
    (name, x), = inputs.items()
    reference = outputs[manifest.outputs[0]["name"]]
    batch4 = np.concatenate([x, x[::-1]])[:4] if len(x) < 4 else x[:4]
    # ONNX Runtime vs the NNabla graph at batch 1 and 4
    assert relative_error(ort_run(folder / "model.onnx", x[:1]), reference[:1]) <= manifest.tolerance
    onnx4 = ort_run(folder / "model.onnx", batch4)
    # the NNP reloads without fanzoo's model code and gives the same numbers at any batch size
    loader = NnpLoader(str(folder / "model.nnp"), scope={})
    net = loader.get_network(loader.get_network_names()[0], batch_size=len(batch4))
    net.inputs[name].d = batch4
    out = list(net.outputs.values())[0]
    out.forward()
    assert relative_error(onnx4, out.d) <= manifest.tolerance
    assert relative_error(out.d[:len(x)], np.concatenate([reference, reference[::-1]])[:len(x)]) <= 1e-6
    if manifest.task == "landmarks":  # no landmark moves between runtimes
        from fanzoo.decoding import decode_heatmaps
        np.testing.assert_array_equal(decode_heatmaps(onnx4)[0], decode_heatmaps(out.d)[0])
    if model == "3dfan4":
        depth = read_manifest(tmp_path / "resnetdepth")
        assert depth.artifacts
        # the pair is recorded by tag: a 3D artifact names the very depth weights exported beside it
        assert manifest.depth_model == {"name": "resnetdepth", "tag": depth.tag, "path": "../resnetdepth"}


def test_export_json_is_the_manifests(tiny, tmp_path: Path) -> None:
    """`fanzoo export --json -` prints the manifests as JSON objects (not reprs of Python objects)."""
    from click.testing import CliRunner

    from fanzoo.cli import cli
    from fanzoo.cli import export as _  # noqa: F401

    result = CliRunner().invoke(cli, ["export", "tinyfan", "--format", "onnx", "--random-weights", "3", "--bind",
                                      "--out", str(tmp_path), "--json", "-"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (manifest,) = json.loads(result.stdout)
    assert manifest["artifacts"]["onnx"]["file"] == "model.onnx" and manifest["tag"] == "seed-3"
    assert manifest["made_by"] == "binding" and manifest["decoding"] == {"subpixel": "quarter"}
    assert manifest == read_manifest(tmp_path / "tinyfan").to_dict()


@pytest.mark.parametrize("bind", METHODS)
def test_reuse_remakes_an_artifact_of_older_graph_passes(tiny, tmp_path: Path, bind: bool) -> None:
    """An ONNX file records the exact rewrites it went through; reuse keeps a current one and makes one from
    before them again (int8 export reuses the fp32 file this way)."""
    from dataclasses import replace

    from fanzoo.export.exporter import export
    from fanzoo.export.graph_passes import PASSES

    folder = tmp_path / "tinyfan"
    export("tinyfan", "onnx", tmp_path, random_seed=3, bind=bind)
    first = read_manifest(folder)
    assert first.entry("onnx").graph_passes == list(PASSES)
    inode = (folder / "model.onnx").stat().st_ino
    export("tinyfan", "onnx", tmp_path, random_seed=3, bind=bind, reuse=True)
    assert (folder / "model.onnx").stat().st_ino == inode  # current: kept, not written again
    older = replace(first.entry("onnx"), graph_passes=None)
    replace(first, artifacts={"onnx": older}, created="2026-01-01T00:00:00+00:00").write(folder)
    export("tinyfan", "onnx", tmp_path, random_seed=3, bind=bind, reuse=True)
    remade = read_manifest(folder)
    assert remade.created != "2026-01-01T00:00:00+00:00" and remade.entry("onnx").graph_passes == list(PASSES)
