"""Artifacts are checked before use: their sha256 against the manifest (remembered per file state), their
path inside the folder, and the manifest's schema; every failure is one ArtifactError line."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fanzoo.artifacts import bundled_artifacts, resolve_artifact
from fanzoo.errors import ArtifactError
from fanzoo.weights.tags import lookup

from .conftest import ROOT

MODEL = lookup("2dfan-lite")
SPEC, TAG = MODEL.spec, MODEL.weights
LOCAL = lookup("2dfan-lite.local")
ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
BOX = [[179.0, 83.0, 266.0, 170.0]]


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """An `--artifacts` folder holding a copy of the shipped export of the bundled model."""
    folder = tmp_path / "artifacts"
    shutil.copytree(bundled_artifacts(TAG), folder / SPEC.name)
    return folder


def landmarks(artifacts: Path | None = None) -> np.ndarray:
    from fanzoo.api import load_predictor
    from fanzoo.imageio import read_image

    predictor = load_predictor(SPEC.name, artifacts=artifacts, detector=None)
    return predictor.predict(read_image(ASTRONAUT), BOX)[0].landmarks


def flip_bytes(path: Path, at: int = 4000) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0xFF]))


def other_valid_model(path: Path) -> None:
    """Replace the model with another valid one: same graph and tensors, one weight changed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    array = numpy_helper.to_array(init) * 1.5
    init.CopyFrom(numpy_helper.from_array(array.astype(np.float32), init.name))
    onnx.save(model, str(path))


def test_intact_folder_works(artifacts: Path) -> None:
    assert landmarks(artifacts).shape == (68, 2)


@pytest.mark.parametrize("damage", [flip_bytes, other_valid_model], ids=["flipped-bytes", "another-valid-model"])
def test_damaged_artifacts_folder_is_refused(artifacts: Path, damage) -> None:
    damage(artifacts / SPEC.name / "model.onnx")
    with pytest.raises(ArtifactError, match="sha256") as info:
        landmarks(artifacts)
    assert "\n" not in str(info.value)


@pytest.fixture
def cache_entry(isolated_home: Path, tmp_path: Path) -> Path:
    """The cache's artifact of weights the user imported (not the bundled ones: tag 2dfan-lite.local), so that
    the cache, not the package, is where the artifact is found."""
    from fanzoo.artifacts import cache_folder
    from fanzoo.weights.h5params import read_h5_params, write_h5_params
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.store import bundled_weights

    write_h5_params(tmp_path / "other.h5", {k: v * 1.01 for k, v in read_h5_params(bundled_weights(TAG)).items()})
    done = import_file(SPEC, tmp_path / "other.h5")
    folder = cache_folder(LOCAL.weights)
    assert done.artifact == folder / "model.onnx"
    assert resolve_artifact(LOCAL, "onnx", auto_export=False).path == folder / "model.onnx"
    return folder


@pytest.mark.parametrize("damage", [flip_bytes, other_valid_model], ids=["flipped-bytes", "another-valid-model"])
def test_damaged_cache_is_refused(cache_entry: Path, damage) -> None:
    damage(cache_entry / "model.onnx")
    with pytest.raises(ArtifactError, match="sha256"):
        resolve_artifact(LOCAL, "onnx", auto_export=False)
    with pytest.raises(ArtifactError, match="sha256"):
        resolve_artifact(LOCAL, "onnx")  # no silent re-binding over a damaged cache either


def count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every file the verifier hashes (the real hash still runs)."""
    from fanzoo.export import verify

    calls: list[Path] = []
    real = verify.sha256_file

    def counted(path, *args, **kwargs):
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(verify, "sha256_file", counted)
    return calls


def test_verified_files_are_not_hashed_again(cache_entry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_hashes(monkeypatch)
    resolve_artifact(LOCAL, "onnx", auto_export=False)
    assert calls == []  # the fixture's resolve verified the artifact and hashed the weights: remembered
    os.utime(cache_entry / "model.onnx")  # touched: checked again, once
    resolve_artifact(LOCAL, "onnx", auto_export=False)
    resolve_artifact(LOCAL, "onnx", auto_export=False)
    assert calls == [cache_entry / "model.onnx"]


def test_changed_bytes_with_restored_mtime_are_caught(cache_entry: Path) -> None:
    """Size and mtime alone can be faked (os.utime); the inode change time cannot, and is part of the key."""
    path = cache_entry / "model.onnx"
    resolve_artifact(LOCAL, "onnx", auto_export=False)
    before = path.stat()
    flip_bytes(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(ArtifactError, match="sha256"):
        resolve_artifact(LOCAL, "onnx", auto_export=False)


def set_manifest(folder: Path, change) -> None:
    path = folder / "MANIFEST.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def with_file(name: str):
    def change(data: dict) -> dict:
        data["artifacts"]["onnx"]["file"] = name
        return data
    return change


@pytest.mark.parametrize("where", ["../evil.onnx", "../../../evil.onnx", "ABSOLUTE", "sub/../../evil.onnx"])
def test_manifest_paths_that_leave_the_folder_are_refused(artifacts: Path, where: str) -> None:
    evil = artifacts.parent / "evil.onnx"
    shutil.copy(artifacts / SPEC.name / "model.onnx", evil)
    name = str(evil) if where == "ABSOLUTE" else where
    set_manifest(artifacts / SPEC.name, with_file(name))
    with pytest.raises(ArtifactError, match="outside|leaves"):
        landmarks(artifacts)


def test_symlink_out_of_the_folder_is_refused(artifacts: Path) -> None:
    evil = artifacts.parent / "evil.onnx"
    shutil.move(artifacts / SPEC.name / "model.onnx", evil)
    (artifacts / SPEC.name / "model.onnx").symlink_to(evil)
    with pytest.raises(ArtifactError, match="outside|leaves"):
        landmarks(artifacts)


MANIFESTS = {
    "a list": "[]",
    "null": "null",
    "a number": "3",
    "not json": "{",
    "deeply nested": "[" * 100_000 + "]" * 100_000,
    "file is a number": lambda d: with_file(5)(d),
    "file holds a NUL": lambda d: with_file("model.onnx\x00")(d),  # found by test_fuzz_manifest in CI
    "file holds a newline": lambda d: with_file("model\n.onnx")(d),
    "file is empty": lambda d: with_file("")(d),
    "depth path holds a NUL": lambda d: {**d, "depth_model": {"name": "r", "tag": "t", "path": "../r\x00"}},
    "depth path is missing": lambda d: {**d, "depth_model": {"name": "r", "tag": "t"}},
    "artifacts is a list": lambda d: {**d, "artifacts": []},
    "sha256 is a number": lambda d: {**d, "artifacts": {"onnx": {**d["artifacts"]["onnx"], "sha256": 12}}},
    "sha256 is not hex": lambda d: {**d, "artifacts": {"onnx": {**d["artifacts"]["onnx"], "sha256": "z" * 64}}},
    "tolerance is text": lambda d: {**d, "tolerance": "high"},
    "inputs is text": lambda d: {**d, "inputs": "x"},
    "opset is a bool": lambda d: {**d, "artifacts": {"onnx": {**d["artifacts"]["onnx"], "opset": True}}},
    "missing field": lambda d: {k: v for k, v in d.items() if k != "model"},
    "unknown field": lambda d: {**d, "surprise": 1},
    "entry missing field": lambda d: {**d, "artifacts": {"onnx": {"file": "model.onnx"}}},
    "format differs from its key": lambda d: {**d, "artifacts": {"onnx": {**d["artifacts"]["onnx"], "format": "nnp"}}},
}


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_malformed_manifest_is_one_line(artifacts: Path, cache_entry: Path, case: str) -> None:
    for folder in (artifacts / SPEC.name, cache_entry):
        content = MANIFESTS[case]
        if callable(content):
            set_manifest(folder, content)
        else:
            (folder / "MANIFEST.json").write_text(content)
    with pytest.raises(ArtifactError) as info:
        landmarks(artifacts)
    assert "\n" not in str(info.value) and "MANIFEST.json" in str(info.value)
    with pytest.raises(ArtifactError) as info:
        resolve_artifact(LOCAL, "onnx")
    assert "\n" not in str(info.value) and "MANIFEST.json" in str(info.value)
