"""`fanzoo export MODEL --format triton`: configs parsed with Triton's own model-config protobuf and checked
against the ONNX files they serve.

tritonclient needs protobuf 6, which NNabla's Python 3.10 venv cannot have, so the parsing tests run in the
Python 3.12 venv of tools/test.sh and skip elsewhere with the reason. The 3D repository comes from
tools/test.sh too (`FANZOO_TEST_TRITON`: it is exported with NNabla, in the 3.10 venv).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanzoo.cli import cli
from fanzoo.errors import ExportError
from fanzoo.export.manifest import read_manifest
from fanzoo.export.triton import config_pbtxt, write_triton_repository


def triton_protos():
    return pytest.importorskip(
        "tritonclient.grpc.model_config_pb2",
        reason="tritonclient[grpc] (protobuf 6) is not installed here; tools/test.sh runs this in the 3.12 venv")


def parse_config(path: Path):
    """Triton's ModelConfig message from a config.pbtxt, as tritonserver itself reads it."""
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), triton_protos().ModelConfig())


def check_model(folder: Path) -> None:
    """config.pbtxt against 1/model.onnx (names, element types, shapes without the batch) and the MANIFEST."""
    import onnx

    config = parse_config(folder / "config.pbtxt")
    manifest = read_manifest(folder)
    onnx_file = folder / "1" / "model.onnx"
    assert hashlib.sha256(onnx_file.read_bytes()).hexdigest() == manifest.entry("onnx").sha256
    assert config.name == folder.name == manifest.model
    assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 32
    assert config.HasField("dynamic_batching")
    protos = triton_protos()
    kinds = [(protos.ModelInstanceGroup.Kind.Name(g.kind), g.count) for g in config.instance_group]
    assert kinds == [("KIND_CPU", 1)]
    graph = onnx.load(str(onnx_file)).graph
    initializers = {i.name for i in graph.initializer}
    for declared, actual in ((config.input, [i for i in graph.input if i.name not in initializers]),
                             (config.output, list(graph.output))):
        assert [t.name for t in declared] == [t.name for t in actual]
        for tensor, value in zip(declared, actual):
            shape = value.type.tensor_type.shape.dim
            assert shape[0].dim_param, f"{value.name}: the ONNX batch axis must be dynamic for Triton"
            assert list(tensor.dims) == [d.dim_value for d in shape[1:]]
            assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
            assert protos.DataType.Name(tensor.data_type) == "TYPE_FP32"


def test_bundled_model_repository_parses_and_matches_its_onnx(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "2dfan-lite", "--format", "triton", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2dfan-lite", "README.md"]
    assert "No Triton server was run" in (tmp_path / "README.md").read_text()
    check_model(tmp_path / "2dfan-lite")


def test_a_3d_model_brings_its_depth_network_and_the_two_step_readme() -> None:
    repository = os.environ.get("FANZOO_TEST_TRITON")
    if not repository:
        pytest.skip("FANZOO_TEST_TRITON is not set: tools/test.sh exports 3dfan4 as a Triton repository (NNabla)")
    repository = Path(repository)
    check_model(repository / "3dfan4")
    check_model(repository / "resnetdepth")
    readme = (repository / "README.md").read_text()
    assert "two-step call" in readme and "depth_network_input" in readme


def test_a_fixed_batch_artifact_is_refused_with_what_to_do(tmp_path: Path) -> None:
    from dataclasses import replace

    manifest = read_manifest(Path(__file__).resolve().parents[1] / "fanzoo" / "bundled" / "2dfan-lite")
    fixed = replace(manifest, inputs=[{**manifest.inputs[0], "shape": [1, 3, 192, 192]}])
    with pytest.raises(ExportError, match="export with `--batch dynamic`"):
        config_pbtxt(fixed)


def test_an_onnx_file_that_is_not_the_manifests_is_refused(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "2dfan-lite"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fanzoo" / "bundled" / "2dfan-lite", folder)
    with open(folder / "model.onnx", "ab") as onnx_file:
        onnx_file.write(b"\0")
    with pytest.raises(ExportError, match="does not match the sha256"):
        write_triton_repository([folder], tmp_path / "repository")
    assert not (tmp_path / "repository" / "2dfan-lite").exists()
