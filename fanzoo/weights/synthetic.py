"""Seeded random weights, reproducible from (seed, parameter name) alone, for tests and fixtures.

Each parameter draws from its own generator keyed by the seed and a CRC of its NNabla name, so the same
tensor comes out in any process, in any order, with or without torch. Uniform draws only: numpy keeps the
bit stream of ``Generator.random`` stable across releases.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

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


def seeded_params(spec, seed: int) -> dict[str, np.ndarray]:  # spec: registry.ModelSpec
    """What `--random-weights SEED` exports: synthetic weights with BatchNorm calibrated on real faces."""
    from ..export.exporter import reference_inputs
    from ..graph import calibrate_batchnorm, expected_shapes

    return calibrate_batchnorm(spec, synthetic_params(expected_shapes(spec), seed), reference_inputs(spec))
