"""Parameter and multiply-accumulate counts of a built NNabla graph (the numbers the registry declares)."""
from __future__ import annotations

import math

import nnabla as nn


def count_macs(output: nn.Variable) -> int:
    """MACs of convolutions and affine layers for one forward pass at the graph's batch size."""
    total = 0

    def visit(f: nn.function.Function) -> None:
        nonlocal total
        if f.info.type_name == "Convolution":
            w = f.inputs[1]
            out = f.outputs[0]
            total += math.prod(out.shape) * math.prod(w.shape[1:])
        elif f.info.type_name == "Affine":
            w = f.inputs[1]
            total += f.inputs[0].shape[0] * math.prod(w.shape)

    output.visit(visit)
    return total


def count_params(params: dict[str, nn.Variable]) -> int:
    return sum(v.size for v in params.values())
