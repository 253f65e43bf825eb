"""Build a registered model as an NNabla graph and fill it with checked weights (imports nnabla)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import WeightsError
from .registry import ModelSpec


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


class GraphSession:
    """Runs a registry graph directly (no exported file): one built graph per batch size, shared weights.

    This is the plain NNabla path that nnabla-examples' script takes; the nnabla backend's "graph" mode and
    the parity tests use it.
    """

    def __init__(self, spec: ModelSpec, params: Mapping[str, np.ndarray], source: str = "weights") -> None:
        first = build(spec, 1)
        assign(first, params, source)
        self.spec = spec
        self._scope = first.scope
        self._graphs: dict[int, Network] = {1: first}
        self.input_names = (spec.inputs[0].name,)
        self.output_names = (spec.outputs[0].name,)

    def _graph(self, batch: int) -> Network:
        if batch not in self._graphs:
            import nnabla as nn

            x = nn.Variable(input_shape(self.spec, batch))
            with nn.parameter_scope("", self._scope):
                y = self.spec.build_function()(x, train=False, **self.spec.config)
            self._graphs[batch] = Network(self.spec, x, y, self._graphs[1].params, self._scope)
        return self._graphs[batch]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .backend import check_feeds

        check_feeds(feeds, {self.input_names[0]: self.spec.inputs[0].shape})
        batch = feeds[self.input_names[0]]
        return {self.output_names[0]: self._graph(len(batch)).forward(batch)}


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
