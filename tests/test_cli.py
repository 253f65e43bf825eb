"""The CLI's listing commands, `weights`, `export` and `evaluate`, and their one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fanzoo.cli import cli

from .conftest import FIXTURES


@pytest.fixture(autouse=True)
def commands() -> None:
    from fanzoo.cli import evaluate, export, info, predict, train, weights  # noqa: F401


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_models_and_backends_json() -> None:
    models = json.loads(run("models", "--json", "-").stdout)
    names = {m["name"] for m in models}
    assert {"2dfan4", "3dfan4", "resnetdepth", "2dfan1", "2dfan2", "2dfan3", "2dfan-lite"} <= names
    fan4 = next(m for m in models if m["name"] == "2dfan4")
    assert fan4["params_m"] == pytest.approx(23.87, abs=0.01) and fan4["gflops"] == pytest.approx(50.5, abs=0.1)
    # the measured batch of each landmark model; a depth network runs on its landmark model's batches
    assert {m["name"]: m["default_batch"] for m in models if m["name"] in ("2dfan4", "2dfan-lite-v2", "resnetdepth")} \
        == {"2dfan4": 2, "2dfan-lite-v2": 8, "resnetdepth": None}
    table = run("models").stdout
    assert "onnxruntime fp32, batch 2" in table and "onnxruntime fp32, batch 8" in table
    backends = {b["name"]: b for b in json.loads(run("backends", "--json", "-").stdout)}
    assert backends["onnxruntime"]["devices"]["cpu"]["available"]
    # what the installed runtimes can do, on any machine (these have no GPU; a GPU machine must pass too)
    import onnxruntime

    ort_cuda = backends["onnxruntime"]["devices"]["cuda"]
    assert ort_cuda["available"] == ("CUDAExecutionProvider" in onnxruntime.get_available_providers())
    assert ort_cuda["available"] or "onnxruntime-gpu" in ort_cuda["reason"]
    if "nnabla" in backends:  # the plugin installs where NNabla does (Python 3.10)
        nnabla_cuda = backends["nnabla"]["devices"]["cuda"]
        assert nnabla_cuda["available"] or "nnabla-ext-cuda" in nnabla_cuda["reason"]


def test_weights_import_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\ngarbage")
    result = run("weights", "import", "2dfan4", str(bad))
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1
    result = run("weights", "import", "2dfan4", str(FIXTURES / "tiny_fan_zip.pth"))
    assert result.exit_code == 1 and "does not fit" in result.output and "2dfan4" in result.output
    result = run("weights", "import", "nosuchmodel", str(bad))
    assert result.exit_code == 2 and "known models" in result.output  # a usage error


def test_weights_fetch_offline_is_clear(tmp_path: Path) -> None:
    result = run("weights", "fetch", "2dfan4", "--url", "http://127.0.0.1:9/2DFAN4-11f355bf06.pth.tar")
    assert result.exit_code == 1 and "offline" in result.output and "Traceback" not in result.output


def test_export_usage_errors() -> None:
    result = run("export", "2dfan1", "--format", "onnx", "--opset", "12", "--random-weights", "1")
    assert result.exit_code == 1 and "opset 12 cannot be exported" in result.output
    result = run("export", "2dfan1", "--format", "onnx", "--batch", "zero")
    assert result.exit_code == 2
    result = run("export", "2dfan4", "--format", "onnx")
    assert result.exit_code == 1 and "fanzoo weights fetch 2dfan4" in result.output


@pytest.mark.slow
def test_evaluate_reports_metrics(shared_data: Path, tmp_path: Path) -> None:
    from fanzoo.testing import export_test_artifacts

    artifacts = export_test_artifacts(tmp_path / "exported", ("2dfan1",), ("onnx",))
    subset = tmp_path / "subset"
    subset.mkdir()
    for jpg in sorted((shared_data / "300w" / "testset" / "helen").glob("*.jpg"))[:4]:
        (subset / jpg.name).symlink_to(jpg)
        (subset / jpg.with_suffix(".pts").name).symlink_to(jpg.with_suffix(".pts"))
    (subset / "broken.jpg").write_text("x")
    (subset / "broken.pts").write_text((subset / sorted(subset.glob("*.pts"))[0].name).read_text())
    out = tmp_path / "eval"
    result = CliRunner().invoke(cli, ["evaluate", "-m", "2dfan1", "--artifacts", str(artifacts), "--out", str(out),
                                      "--json", "-", str(subset)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["images"] == 4 and summary["failed_images"] == 1
    for key in ("nme_eye_mean", "nme_box_mean", "auc_008", "failure_rate_008", "gt_boxes_used"):
        assert key in summary
    assert (out / "ced.png").stat().st_size > 1000
    assert len((out / "per_image.csv").read_text().splitlines()) == 5
    forced = CliRunner().invoke(cli, ["evaluate", "-m", "2dfan1", "--artifacts", str(artifacts), "--boxes", "gt",
                                      "--out", str(out), "--json", "-", str(subset)])
    assert json.loads(forced.stdout)["gt_boxes_used"] == 4


def test_evaluate_without_dataset_explains_the_layout() -> None:
    result = run("evaluate")
    assert result.exit_code == 2 and ".pts" in result.output and "300-W" in result.output
    assert "Traceback" not in result.output
