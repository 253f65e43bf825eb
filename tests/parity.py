"""The fixtures made by tools/make_fixtures.py with the authors' code, and the weights behind them, three ways:
the plain NNabla graph, the authors' own checkpoint files imported as a user would (FANZOO_PARITY_CHECKPOINTS,
written by `tools/make_fixtures.py --checkpoints DIR`), and the same tensors imported from a .npz."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from fanzoo.plugins import get_model

from .conftest import FIXTURES

CHECKPOINTS_ENV = "FANZOO_PARITY_CHECKPOINTS"
# the authors' file name stems (their hash prefix follows the dash)
AUTHORS_STEMS = {"2dfan4": "2DFAN4", "3dfan4": "3DFAN4", "resnetdepth": "depth"}
TAG = "parity"  # the tag the fixtures' weights are imported under


@cache
def fixture(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"parity_{name}.npz") as f:
        return {k: f[k] for k in f.files}


def fixture_params(model: str, seed: int, prefix: str, record: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Seeded weights with the calibrated BatchNorm statistics the reference run used."""
    from fanzoo.weights.importer import expected_shapes
    from fanzoo.weights.synthetic import synthetic_params

    params = synthetic_params(expected_shapes(get_model(model)), seed)
    stats = {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix)}
    assert stats and set(stats) <= set(params)
    params.update(stats)
    return params


def networks(name: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(architecture, weights) of the fixture's landmark network and, for 3D, its depth network."""
    record = fixture(name)
    out = [(name, fixture_params(name, int(record["seed"]), "bn:", record))]
    if "depth_seed" in record:
        out.append(("resnetdepth", fixture_params("resnetdepth", int(record["depth_seed"]), "depthbn:", record)))
    return out


@cache
def graph_sessions(name: str):
    """The plain NNabla path (needs NNabla)."""
    pytest.importorskip("nnabla")
    from fanzoo_nnabla.graph import GraphSession

    sessions = [GraphSession(get_model(arch), params) for arch, params in networks(name)]
    return sessions[0], (sessions[1] if len(sessions) > 1 else None)


def authors_checkpoints() -> Path:
    """The folder of the authors'-format checkpoint files, or a skip that says how to make it."""
    folder = os.environ.get(CHECKPOINTS_ENV)
    if not folder or not Path(folder).is_dir():
        pytest.skip(f"set {CHECKPOINTS_ENV} to a folder made by `.venv-ref/bin/python tools/make_fixtures.py "
                    "--checkpoints DIR` (the authors' checkpoint format; tools/test.sh does)")
    return Path(folder)


def authors_file(folder: Path, arch: str) -> Path:
    found = sorted(folder.glob(f"{AUTHORS_STEMS[arch]}-*.pth.tar"))
    assert len(found) == 1, f"expected one {AUTHORS_STEMS[arch]}-*.pth.tar in {folder}, found {found}"
    return found[0]


@contextlib.contextmanager
def fanzoo_home(home: Path) -> Iterator[None]:
    previous = os.environ.get("FANZOO_HOME")
    os.environ["FANZOO_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["FANZOO_HOME"]
        else:
            os.environ["FANZOO_HOME"] = previous


def import_fixture_weights(name: str, source: str, home: Path) -> None:
    """Import the fixture's networks into ``home`` as tag ``parity``: the authors' files or .npz copies."""
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.params import write_npz

    folder = authors_checkpoints() if source == "authors" else home / "files"
    for arch, params in networks(name):
        if source == "authors":
            path = authors_file(folder, arch)
        else:
            path = folder / f"{arch}.npz"
            write_npz(path, params)
        with fanzoo_home(home):
            done = import_file(get_model(arch), path, tag=TAG)
        assert done.artifact is not None, done.unbound
