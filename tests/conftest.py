"""Shared fixtures: where the shared data lives, and skips that say why."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def data_dir() -> Path:
    return Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "300w").is_dir():
        pytest.skip(f"shared data not found at {path} (set FANZOO_DATA to ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own FANZOO_HOME, so nothing reads or writes the user's cache."""
    home = tmp_path_factory.mktemp("fanzoo_home")
    monkeypatch.setenv("FANZOO_HOME", str(home))
    return home


HAS_NNABLA = importlib.util.find_spec("nnabla") is not None
# per test, so that everything else runs where NNabla cannot be installed (Python 3.11+)
needs_nnabla = pytest.mark.skipif(not HAS_NNABLA, reason="needs NNabla (installable on Python 3.10 only)")


def backends_here() -> list:
    """The backends whose runtime exists here: onnxruntime everywhere, nnabla where NNabla is installed."""
    return ["onnxruntime", pytest.param("nnabla", marks=needs_nnabla)]
