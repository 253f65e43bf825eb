"""Build a registered model as an NNabla graph and fill it with checked weights (imports nnabla)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .registry import ModelSpec
from .weights.params import check_params


@dataclass
class Network:
    """A built graph and its parameters, which live in their own scope dict (not the global one)."""

    spec: ModelSpec
    x: nn.Variable  # noqa: F821
    y: nn.Variable  # noqa: F821
    params: dict  # full name -> nn.Variable
    scope: dict  # NNabla's nested scope dict: building under it again reuses the same parameters

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
    return Network(spec, x, y, dict(params), scope)


def expected_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in build(spec).params.items()}


def assign(net: Network, params: Mapping[str, np.ndarray], source: str = "weights") -> None:
    check_params(net.spec.name, params, {k: tuple(v.shape) for k, v in net.params.items()}, source)
    for name, var in net.params.items():
        # float32 always: a float64 array would silently make the parameter (and the NNP) float64
        var.d = np.asarray(params[name], dtype=np.float32)


def calibrate_batchnorm(spec: ModelSpec, params: dict[str, np.ndarray], inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Random weights need real BatchNorm statistics, or activations explode through the stacked blocks.

    One train-mode pass updates each running statistic as 0.9 * old + 0.1 * batch statistic; the batch
    statistic is recovered from that exactly, so the result is what a decay of 0 would have stored.
    """
    net = build(spec, len(inputs), train=True)
    assign(net, params, "calibration weights")
    net.x.d = inputs
    net.y.forward(clear_buffer=True)
    out = dict(params)
    for name, var in net.params.items():
        if name.endswith(("/bn/mean", "/bn/var")):
            out[name] = ((var.d - 0.9 * params[name]) / 0.1).astype(np.float32)
    return out
