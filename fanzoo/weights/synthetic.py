"""Seeded random weights, reproducible from (seed, parameter name) alone, for tests and fixtures.

Each parameter draws from its own generator keyed by the seed and a CRC of its NNabla name, so the same
tensor comes out in any process, in any order, with or without torch. Uniform draws only: numpy keeps the
bit stream of ``Generator.random`` stable across releases.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence

import numpy as np


def _uniform(seed: int, name: str, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
    return (low + (high - low) * rng.random(shape)).astype(np.float32)


def synthetic_param(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    kind = name.rsplit("/", 2)[-2:]
    if kind in (["conv", "W"], ["affine", "W"]):
        fan_in = math.prod(shape[1:]) if kind[0] == "conv" else shape[0]
        bound = math.sqrt(6.0 / fan_in)  # He initialisation, uniform with the same variance
        return _uniform(seed, name, shape, -bound, bound)
    if kind in (["conv", "b"], ["affine", "b"]):
        return _uniform(seed, name, shape, -0.1, 0.1)
    if kind == ["bn", "gamma"]:
        return _uniform(seed, name, shape, 0.5, 1.5)
    if kind == ["bn", "beta"]:
        return _uniform(seed, name, shape, -0.1, 0.1)
    if kind == ["bn", "mean"]:
        return np.zeros(shape, np.float32)
    if kind == ["bn", "var"]:
        return np.ones(shape, np.float32)
    raise ValueError(f"no synthetic rule for parameter {name!r}")


def synthetic_params(shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Random weights for every parameter. BatchNorm statistics start at (0, 1): calibrate them on real
    inputs (one train-mode pass) before use, or outputs explode through the stacked blocks."""
    return {name: synthetic_param(seed, name, tuple(shape)) for name, shape in shapes.items()}


def seeded_params(spec, seed: int, batchnorm: Mapping[str, Sequence[float]] | None = None) -> dict[str, np.ndarray]:
    """What `--random-weights SEED` exports, reproducible without NNabla: synthetic weights with one BatchNorm
    mean and variance per layer (``batchnorm``: scope -> (mean, var); by default those the architecture's
    shipped graph records, calibrated on real faces when the graph was generated)."""
    if batchnorm is None:
        from ..graphs import expected_shapes, load_shipped

        shipped = load_shipped(spec)
        batchnorm, shapes = shipped.contract.batchnorm, expected_shapes(shipped.load_graph())
    else:
        from ..graph import expected_shapes as built_shapes  # the generator's case: NNabla is there

        shapes = built_shapes(spec)
    params = synthetic_params(shapes, seed)
    for scope, (mean, var) in batchnorm.items():
        for stat, value in (("mean", mean), ("var", var)):
            name = f"{scope}/{stat}"
            params[name] = np.full(shapes[name], np.float32(value), dtype=np.float32)
    return params
