"""Every random draw of a training run, keyed by the seed: the validation split, batch order and initial weights.

Nothing draws sequentially, so nothing needs saving: (seed, epoch) fixes an epoch's order and
(seed, iteration, position in batch) an example's augmentation, and a resumed run is the same run.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from .config import TrainConfig

# what state.json says about randomness (the seed itself is written beside it)
RNG_SCHEME = {
    "init": "convolutions He-uniform from PCG64([seed, crc32(parameter name)]), heads x0.01, biases 0, BN identity",
    "split": "PCG64([seed, 7]).permutation(faces)[:validation_images] are held out",
    "order": "PCG64([seed, epoch]).permutation(training faces), batch_size per step",
    "augmentation": "PCG64([seed, iteration, index in batch])",
}


def split(items: list[Any], config: TrainConfig) -> tuple[list[Any], list[Any]]:
    """(training, validation): ``config.validation_images`` items held out, fixed by the seed."""
    order = np.random.default_rng([config.seed, 7]).permutation(len(items))
    held = set(order[:config.validation_images].tolist())
    return ([s for i, s in enumerate(items) if i not in held], [s for i, s in enumerate(items) if i in held])


def batch_indices(config: TrainConfig, iteration: int, n: int) -> np.ndarray:
    """Indices into the n training faces for one iteration: epochs are seeded permutations."""
    per_epoch = n // config.batch_size
    epoch, step = divmod(iteration, per_epoch)
    order = np.random.default_rng([config.seed, epoch]).permutation(n)
    return order[step * config.batch_size:(step + 1) * config.batch_size]


def example_rng(config: TrainConfig, iteration: int, position: int) -> np.random.Generator:
    """The generator of one example's augmentation: the same whichever process computes it."""
    return np.random.default_rng([config.seed, iteration, position])


def initial_params(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Weights to train from, from the seed alone, so two runs with one seed are the same run.

    Convolutions are He-uniform (the synthetic-weight rule); biases start at 0 and BatchNorm at the
    identity. The heatmap heads (``l{i}``) start 100x smaller: full-size random heads put O(1) noise on
    every one of the H*W pixels, and the first few hundred iterations would only learn to undo it.
    """
    from ..weights.synthetic import synthetic_param

    params = {}
    for name, shape in shapes.items():
        kind = name.rsplit("/", 1)[-1]
        if kind in ("b", "beta", "mean"):
            params[name] = np.zeros(shape, np.float32)
        elif kind in ("gamma", "var"):
            params[name] = np.ones(shape, np.float32)
        else:
            params[name] = synthetic_param(seed, name, shape)
            if re.fullmatch(r"l\d+/conv/W", name):
                params[name] *= 0.01
    return params
