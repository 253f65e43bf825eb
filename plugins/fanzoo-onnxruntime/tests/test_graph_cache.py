"""ONNX Runtime's saved optimized graph: same outputs, keyed by the artifact, rebuilt when damaged or stale."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from fanzoo.export import reference
from fanzoo_onnxruntime import OnnxRuntimeBackend, graph_cache

BUNDLED = Path(__file__).resolve().parents[3] / "fanzoo" / "bundled" / "2dfan-lite"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("fanzoo_home")
    monkeypatch.setenv("FANZOO_HOME", str(home))
    return home


@pytest.fixture()
def artifact(tmp_path: Path) -> Path:
    folder = tmp_path / "2dfan-lite"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns(".ort-cache"))
    return folder / "model.onnx"


def run(artifact: Path, cache: bool, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setenv(graph_cache.DISABLE_ENV, "1" if cache else "0")
    inputs, _ = reference.read_test_data_set(reference.test_data_sets(artifact.parent)[0])
    session = OnnxRuntimeBackend().load(artifact, threads=1)
    return session.run(inputs)["heatmaps"]


def cached_files(artifact: Path) -> list[Path]:
    return sorted((artifact.parent / graph_cache.FOLDER).glob("*.onnx"))


def test_cached_graph_gives_the_same_outputs(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = run(artifact, False, monkeypatch)
    assert not cached_files(artifact)
    first = run(artifact, True, monkeypatch)  # optimizes and saves
    (saved,) = cached_files(artifact)
    second = run(artifact, True, monkeypatch)  # loads the saved graph
    assert cached_files(artifact) == [saved]
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)
    assert not list(saved.parent.glob("*.part")), "no temporary file is left behind"


def test_a_changed_artifact_gets_a_new_graph(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(artifact, True, monkeypatch)
    (before,) = cached_files(artifact)
    import onnx

    model = onnx.load(str(artifact))
    model.doc_string = "changed"  # other bytes, other sha256
    onnx.save(model, str(artifact))
    run(artifact, True, monkeypatch)
    (after,) = cached_files(artifact)
    assert after != before  # keyed by the new sha256; the stale graph is removed


def test_a_damaged_cache_file_is_replaced(artifact: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    expected = run(artifact, True, monkeypatch)
    (saved,) = cached_files(artifact)
    saved.write_bytes(b"\x00damaged" * 64)
    with caplog.at_level(logging.WARNING):
        again = run(artifact, True, monkeypatch)
    assert "ignoring unreadable cached graph" in caplog.text
    np.testing.assert_array_equal(again, expected)
    assert saved.stat().st_size > 1000  # rewritten


def test_read_only_folder_caches_in_fanzoo_home(artifact: Path, monkeypatch: pytest.MonkeyPatch,
                                                isolated_home: Path) -> None:
    writable = graph_cache._writable
    # the artifact's folder cannot be written (tests may run as root, who can write anywhere: say so directly)
    monkeypatch.setattr(graph_cache, "_writable", lambda folder: folder.parent != artifact.parent and writable(folder))
    run(artifact, True, monkeypatch)
    assert not cached_files(artifact)
    assert list((isolated_home / "ort-cache").rglob("model.onnx.*.onnx"))


def test_package_artifacts_are_cached_in_fanzoo_home(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    run(BUNDLED / "model.onnx", True, monkeypatch)
    assert not (BUNDLED / graph_cache.FOLDER).exists()
    assert list((isolated_home / "ort-cache").rglob("model.onnx.*.onnx"))
