"""Smoke run of benchmarks/backend_precision.py (OpenVINO against ONNX Runtime, fp32 and bf16): every step
once, on 2dfan-lite and four HELEN faces, so the script cannot rot. It asserts shapes of the results, not speed."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import backend_precision


def test_backend_precision_runs(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    from fanzoo.errors import BackendUnavailableError

    monkeypatch.setattr(backend_precision, "ROUNDS", {key: 1 for key in backend_precision.ROUNDS})
    try:
        results = backend_precision.measure(("2dfan-lite",), 4, ("accuracy", "latency"), None)
    except BackendUnavailableError as exc:  # bf16 needs AVX-512 BF16 or AMX; the plugin refuses it elsewhere
        pytest.skip(f"OpenVINO bf16 cannot run on this CPU: {exc}")
    entry = results["models"]["2dfan-lite"]
    assert entry["bf16"]["faces"] == 4 and 0 < entry["bf16"]["heatmap_error_max"] < 0.5
    assert set(entry["latency_runs"][-1]["latency_ms"]["8"]) == {"onnxruntime fp32", "openvino fp32", "openvino bf16"}
    assert abs(entry["nme_helen_gt_boxes"]["openvino fp32"] - entry["nme_helen_gt_boxes"]["onnxruntime fp32"]) < 1e-4
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# results\n\n## Machine\n\nkept\n")
    monkeypatch.setattr(backend_precision, "MARKDOWN", markdown)
    backend_precision.update_markdown(backend_precision.render(results))
    backend_precision.update_markdown(backend_precision.render(results))  # replaces its section, once
    text = markdown.read_text()
    assert text.count(backend_precision.HEADING) == 1 and "## Machine\n\nkept" in text
    assert "| 2dfan-lite | trained (shipped) | 8 | 1 |" in text
