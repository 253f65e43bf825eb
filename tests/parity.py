"""Load the fixtures made by tools/make_fixtures.py with the authors' code, and rebuild their weights."""
from __future__ import annotations

from functools import cache

import numpy as np

from fanzoo.graph import expected_shapes
from fanzoo.plugins import get_model
from fanzoo.weights.synthetic import synthetic_params
from fanzoo_nnabla.graph import GraphSession

from .conftest import FIXTURES


@cache
def fixture(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"parity_{name}.npz") as f:
        return {k: f[k] for k in f.files}


def fixture_params(model: str, seed: int, prefix: str, record: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Seeded weights with the calibrated BatchNorm statistics the reference run used."""
    params = synthetic_params(expected_shapes(get_model(model)), seed)
    stats = {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix)}
    assert stats and set(stats) <= set(params)
    params.update(stats)
    return params


@cache
def sessions(name: str) -> tuple[GraphSession, GraphSession | None]:
    record = fixture(name)
    fan = GraphSession(get_model(name), fixture_params(name, int(record["seed"]), "bn:", record))
    depth = None
    if "depth_seed" in record:
        depth = GraphSession(get_model("resnetdepth"),
                             fixture_params("resnetdepth", int(record["depth_seed"]), "depthbn:", record))
    return fan, depth
