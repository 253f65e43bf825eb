"""What checking an artifact's sha256 before use costs: a full hash of a FAN-4-sized file (the ONNX export of
2dfan4 is about 95 MB) against the remembered result for an unchanged file (a stat and a small JSON read)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FAN4_ONNX_BYTES = 95 * 2 ** 20


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, smoke: bool) -> Path:
    path = tmp_path_factory.mktemp("artifact") / "model.onnx"
    size = 4 * 2 ** 20 if smoke else FAN4_ONNX_BYTES
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(autouse=True)
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANZOO_HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("case", ["full sha256", "remembered"])
def test_artifact_check(benchmark, artifact: Path, case: str, smoke: bool) -> None:
    from fanzoo.export.verify import known_sha256
    from fanzoo.weights.store import sha256_file

    expected = sha256_file(artifact)
    benchmark.group = "artifact check"
    benchmark.extra_info.update(kind="artifact-check", case=case, megabytes=round(artifact.stat().st_size / 2 ** 20))
    if case == "remembered":
        from fanzoo.export import verify

        known_sha256(artifact)  # the first run's check, written to the record as a successful check does
        verify._flush()
        run = lambda: known_sha256(artifact)  # what a later run pays: a stat and the record read from disk
    else:
        run = lambda: sha256_file(artifact)
    assert benchmark.pedantic(run, rounds=1 if smoke else 7, warmup_rounds=0 if smoke else 1) == expected
