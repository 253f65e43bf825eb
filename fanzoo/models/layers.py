"""Conv and BatchNorm in the scope layout of the official NNabla FAN weight files (`a/conv/W`, `a/bn/gamma`)."""
from __future__ import annotations

import nnabla as nn
import nnabla.functions as F
import nnabla.parametric_functions as PF


def conv(x: nn.Variable, scope: str, outmaps: int, kernel: int, stride: int = 1, pad: int = 0,
         bias: bool = False) -> nn.Variable:
    with nn.parameter_scope(scope):
        return PF.convolution(x, outmaps, (kernel, kernel), pad=(pad, pad), stride=(stride, stride),
                              with_bias=bias)


def batchnorm(x: nn.Variable, scope: str, train: bool) -> nn.Variable:
    # eps and decay match PyTorch's BatchNorm2d defaults (eps 1e-5, momentum 0.1)
    with nn.parameter_scope(scope):
        return PF.batch_normalization(x, batch_stat=train, decay_rate=0.9, eps=1e-5)


def bn_relu(x: nn.Variable, scope: str, train: bool) -> nn.Variable:
    return F.relu(batchnorm(x, scope, train))
