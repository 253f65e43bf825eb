"""The plain NNabla path: a registry graph run directly from its weights, with no exported file.

This is what nnabla-examples' script does; the parity tests and the benchmarks' "nnabla-graph" runtime
compare the exported artifacts against it. CPU, or cuDNN with nnabla-ext-cuda.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fanzoo.backend import check_feeds
from fanzoo.graph import Network, assign, build, input_shape
from fanzoo.registry import ModelSpec


class GraphSession:
    """One built graph per batch size, all sharing one parameter scope; a Session like any backend's."""

    def __init__(self, spec: ModelSpec, params: Mapping[str, np.ndarray], source: str = "weights",
                 device: str = "cpu") -> None:
        import nnabla as nn

        from . import extension_context

        self._context = extension_context(device)
        with nn.context_scope(self._context):
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
            with nn.parameter_scope("", self._scope), nn.context_scope(self._context):
                y = self.spec.build_function()(x, train=False, **self.spec.config)
            self._graphs[batch] = Network(self.spec, x, y, self._graphs[1].params, self._scope)
        return self._graphs[batch]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import nnabla as nn

        check_feeds(feeds, {self.input_names[0]: self.spec.inputs[0].shape})
        batch = feeds[self.input_names[0]]
        with nn.context_scope(self._context):
            return {self.output_names[0]: self._graph(len(batch)).forward(batch)}


__all__ = ["GraphSession"]
