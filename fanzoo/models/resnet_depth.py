"""ResNetDepth: a ResNet-152-shaped network that turns an RGB crop plus 68 landmark heatmaps into 68 depths."""
from __future__ import annotations

import nnabla as nn
import nnabla.functions as F
import nnabla.parametric_functions as PF

from .layers import batchnorm, conv

EXPANSION = 4


def bottleneck(x: nn.Variable, scope: str, inplanes: int, planes: int, stride: int, train: bool) -> nn.Variable:
    with nn.parameter_scope(scope):
        h = F.relu(batchnorm(conv(x, "conv1", planes, 1), "bn1", train))
        # torchvision-style v1.5 bottleneck: the stride sits on the 3x3 conv
        h = F.relu(batchnorm(conv(h, "conv2", planes, 3, stride=stride, pad=1), "bn2", train))
        h = batchnorm(conv(h, "conv3", planes * EXPANSION, 1), "bn3", train)
        if stride != 1 or inplanes != planes * EXPANSION:
            with nn.parameter_scope("downsample"):
                x = batchnorm(conv(x, "0", planes * EXPANSION, 1, stride=stride), "1", train)
        return F.relu(h + x)


def resnet_depth(x: nn.Variable, layers: tuple[int, ...] = (3, 8, 36, 3), num_landmarks: int = 68,
                 train: bool = False, planes: tuple[int, ...] = (64, 128, 256, 512), stem: int = 64,
                 pool: int = 7) -> nn.Variable:
    """(N, 3 + num_landmarks, 256, 256) -> (N, num_landmarks) depths.

    The official network is the default; ``planes``, ``stem`` and ``pool`` (the final average pooling,
    7 for a 256 px input) shrink it into the conformance suite's small coverage model.
    """
    h = F.relu(batchnorm(conv(x, "conv1", stem, 7, stride=2, pad=3), "bn1", train))
    h = F.max_pooling(h, (3, 3), stride=(2, 2), pad=(1, 1))
    inplanes = stem
    for index, (width, blocks) in enumerate(zip(planes, layers)):
        stride = 1 if index == 0 else 2
        for b in range(blocks):
            h = bottleneck(h, f"layer{index + 1}/{b}", inplanes, width, stride if b == 0 else 1, train)
            inplanes = width * EXPANSION
    h = F.average_pooling(h, (pool, pool), stride=(pool, pool))
    # -1 on the batch axis, so the NNP (saved with a variable batch size) reshapes any batch
    h = F.reshape(h, (-1, h.shape[1] * h.shape[2] * h.shape[3]))
    with nn.parameter_scope("fc"):
        return PF.affine(h, num_landmarks)
