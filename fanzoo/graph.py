"""Build a registered model as an NNabla graph and fill it with checked weights (imports nnabla)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import WeightsError
from .registry import ModelSpec


@dataclass
class Network:
    """A built graph and its parameters, which live in their own scope dict (not the global one)."""

    spec: ModelSpec
    x: "nn.Variable"  # noqa: F821
    y: "nn.Variable"  # noqa: F821
    params: dict  # name -> nn.Variable

    def forward(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape != self.x.shape:
            raise ValueError(f"built for {self.x.shape}, got {batch.shape}")
        self.x.d = batch
        self.y.forward(clear_buffer=True)
        return np.array(self.y.d, dtype=np.float32)


def input_shape(spec: ModelSpec, batch: int) -> tuple[int, ...]:
    return (batch, *spec.inputs[0].shape[1:])  # type: ignore[return-value]


def build(spec: ModelSpec, batch: int = 1, train: bool = False, **builder_options: object) -> Network:
    """The graph in its own parameter scope, so several models can live in one process."""
    import nnabla as nn

    builder = spec.build_function()
    x = nn.Variable(input_shape(spec, batch))
    scope: dict = {}
    with nn.parameter_scope("", scope):
        y = builder(x, train=train, **{**spec.config, **builder_options})
        params = nn.get_parameters(grad_only=False)
    return Network(spec, x, y, dict(params))


def expected_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in build(spec).params.items()}


def check_params(spec: ModelSpec, params: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]],
                 source: str) -> None:
    """Refuse a file with missing, extra or wrong-shaped parameters, naming the first offender."""
    for name, shape in expected.items():
        if name not in params:
            raise WeightsError(f"{source} does not fit {spec.name}: parameter {name!r} is missing "
                               f"({len(params)} parameters in the file, {len(expected)} expected)")
        if tuple(params[name].shape) != tuple(shape):
            raise WeightsError(f"{source} does not fit {spec.name}: parameter {name!r} has shape "
                               f"{tuple(params[name].shape)}, expected {tuple(shape)}")
    for name in params:
        if name not in expected:
            raise WeightsError(f"{source} does not fit {spec.name}: unexpected parameter {name!r}")
    for name, array in params.items():
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsError(f"{source}: parameter {name!r} is {array.dtype}, not floating point")
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"{source}: parameter {name!r} holds NaN or infinite values")


def assign(net: Network, params: Mapping[str, np.ndarray], source: str = "weights") -> None:
    check_params(net.spec, params, {k: tuple(v.shape) for k, v in net.params.items()}, source)
    for name, var in net.params.items():
        # float32 always: a float64 array would silently make the parameter (and the NNP) float64
        var.d = np.asarray(params[name], dtype=np.float32)


def load_network(spec: ModelSpec, weights: Path | Mapping[str, np.ndarray], batch: int = 1) -> Network:
    from .weights.h5params import read_h5_params

    net = build(spec, batch)
    if isinstance(weights, Mapping):
        assign(net, weights)
    else:
        assign(net, read_h5_params(weights), str(weights))
    return net
