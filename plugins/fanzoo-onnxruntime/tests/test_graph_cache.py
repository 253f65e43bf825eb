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
    """The cache entries (folders) of an artifact."""
    folder = artifact.parent / graph_cache.FOLDER
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def test_cached_graph_gives_the_same_outputs(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = run(artifact, False, monkeypatch)
    assert not cached_files(artifact)
    first = run(artifact, True, monkeypatch)  # optimizes and saves
    (saved,) = cached_files(artifact)
    second = run(artifact, True, monkeypatch)  # loads the saved graph
    assert cached_files(artifact) == [saved]
    assert (saved / graph_cache.WEIGHTS).stat().st_size > 1_000_000  # the weights, in a file of their own
    assert (saved / graph_cache.GRAPH).stat().st_size < 200_000
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)
    assert not list(saved.parent.glob("*.part")), "no temporary folder is left behind"


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


@pytest.mark.parametrize("damage", ["graph", "truncated weights", "stamp", "deep stamp"])
def test_a_damaged_cache_entry_is_replaced(artifact: Path, damage: str, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    expected = run(artifact, True, monkeypatch)
    (saved,) = cached_files(artifact)
    if damage == "graph":
        (saved / graph_cache.GRAPH).write_bytes(b"\x00damaged" * 64)
    elif damage == "truncated weights":  # mapped into memory, a short file must never be loaded
        with open(saved / graph_cache.WEIGHTS, "r+b") as f:
            f.truncate(1000)
    elif damage == "stamp":
        (saved / graph_cache.STAMP).write_text("{not json")
    else:  # beyond the JSON parser's depth: RecursionError, not ValueError
        (saved / graph_cache.STAMP).write_text("[" * 100_000 + "]" * 100_000)
    with caplog.at_level(logging.WARNING):
        again = run(artifact, True, monkeypatch)
    assert "ignoring the changed or incomplete cached graph" in caplog.text
    np.testing.assert_array_equal(again, expected)
    (rebuilt,) = cached_files(artifact)
    assert graph_cache.usable(rebuilt) is not None  # written again, whole


@pytest.mark.parametrize("damage", ["{not json", "[]", '"a string"', "[" * 100_000 + "]" * 100_000,
                                    "sha256 null", "sha256 a list", "sha256 a path"])
def test_a_damaged_sha256_memo_is_computed_again(artifact: Path, damage: str) -> None:
    import hashlib
    import json

    expected = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert graph_cache.artifact_sha256(artifact) == expected  # writes the memo
    (memo,) = artifact.parent.glob(f"{graph_cache.FOLDER}/*.sha256.json")
    record = json.loads(memo.read_text())
    memo.write_text(json.dumps({**record, "sha256": "ab" * 32}))  # well formed: the memo is what is read
    assert graph_cache.artifact_sha256(artifact) == "ab" * 32
    values = {"sha256 null": None, "sha256 a list": [expected], "sha256 a path": "../" + expected[3:]}
    memo.write_text(json.dumps({**record, "sha256": values[damage]}) if damage in values else damage)
    assert graph_cache.artifact_sha256(artifact) == expected  # it names a folder: only a digest is taken


def test_read_only_folder_caches_in_fanzoo_home(artifact: Path, monkeypatch: pytest.MonkeyPatch,
                                                isolated_home: Path) -> None:
    writable = graph_cache._writable
    # the artifact's folder cannot be written (tests may run as root, who can write anywhere: say so directly)
    monkeypatch.setattr(graph_cache, "_writable", lambda folder: folder.parent != artifact.parent and writable(folder))
    run(artifact, True, monkeypatch)
    assert not cached_files(artifact)
    assert list((isolated_home / "ort-cache").rglob(graph_cache.GRAPH))


def test_package_artifacts_are_cached_in_fanzoo_home(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    run(BUNDLED / "model.onnx", True, monkeypatch)
    assert not (BUNDLED / graph_cache.FOLDER).exists()
    assert list((isolated_home / "ort-cache").rglob(graph_cache.GRAPH))


def test_cpu_sessions_plan_no_memory_pattern(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU setting holds both when the graph is optimized and saved and when the saved graph is loaded."""
    monkeypatch.setenv(graph_cache.DISABLE_ENV, "1")
    for expected_entries in (0, 1):  # first optimizes and saves, then loads the saved graph
        assert len(cached_files(artifact)) == expected_entries
        session = OnnxRuntimeBackend().load(artifact, threads=1)
        assert session._session.get_session_options().enable_mem_pattern is False
