"""FAN: stacked hourglasses of pre-activation ConvBlocks (Bulat & Tzimiropoulos, ICCV 2017), in NNabla."""
from __future__ import annotations

import nnabla as nn
import nnabla.functions as F

from .layers import batchnorm, bn_relu, conv


def conv_block(x: nn.Variable, scope: str, in_planes: int, out_planes: int, train: bool) -> nn.Variable:
    """The authors' ConvBlock: three 3x3 convs at out/2, out/4, out/4 whose outputs are concatenated."""
    with nn.parameter_scope(scope):
        out1 = conv(bn_relu(x, "bn1", train), "conv1", out_planes // 2, 3, pad=1)
        out2 = conv(bn_relu(out1, "bn2", train), "conv2", out_planes // 4, 3, pad=1)
        out3 = conv(bn_relu(out2, "bn3", train), "conv3", out_planes // 4, 3, pad=1)
        out = F.concatenate(out1, out2, out3, axis=1)
        if in_planes != out_planes:
            # torch Sequential(BN, ReLU, Conv): the official files keep its indices 0 and 2
            with nn.parameter_scope("downsample"):
                x = conv(bn_relu(x, "0", train), "2", out_planes, 1)
        return out + x


def upsample2(x: nn.Variable) -> nn.Variable:
    # F.interpolate defaults to linear: nearest must be asked for, and align_corners=False matches torch
    return F.interpolate(x, scale=(2, 2), mode="nearest", align_corners=False)


def hourglass(x: nn.Variable, level: int, width: int, train: bool) -> nn.Variable:
    up1 = conv_block(x, f"b1_{level}", width, width, train)
    low1 = conv_block(F.average_pooling(x, (2, 2)), f"b2_{level}", width, width, train)
    if level > 1:
        low2 = hourglass(low1, level - 1, width, train)
    else:
        low2 = conv_block(low1, f"b2_plus_{level}", width, width, train)
    low3 = conv_block(low2, f"b3_{level}", width, width, train)
    return up1 + upsample2(low3)


def fan(x: nn.Variable, num_stacks: int = 4, width: int = 256, stem: tuple[int, int] = (64, 128),
        depth: int = 4, num_landmarks: int = 68, train: bool = False,
        all_stacks: bool = False) -> nn.Variable | list[nn.Variable]:
    """Heatmaps (N, num_landmarks, H/4, W/4) of the last stack, or of every stack with all_stacks.

    The official FAN is num_stacks in 1..4, width 256, stem (64, 128), depth 4. Compact variants shrink
    width and stem; parameter names do not change, so every variant uses the same import code.
    """
    c1, c2 = stem
    h = F.relu(batchnorm(conv(x, "conv1", c1, 7, stride=2, pad=3, bias=True), "bn1", train))
    h = F.average_pooling(conv_block(h, "conv2", c1, c2, train), (2, 2))
    h = conv_block(h, "conv3", c2, c2, train)
    previous = conv_block(h, "conv4", c2, width, train)
    outputs = []
    for i in range(num_stacks):
        hg = hourglass_scope(previous, f"m{i}", depth, width, train)
        ll = conv_block(hg, f"top_m_{i}", width, width, train)
        ll = F.relu(batchnorm(conv(ll, f"conv_last{i}", width, 1, bias=True), f"bn_end{i}", train))
        heatmaps = conv(ll, f"l{i}", num_landmarks, 1, bias=True)
        outputs.append(heatmaps)
        if i < num_stacks - 1:
            previous = previous + conv(ll, f"bl{i}", width, 1, bias=True) + \
                conv(heatmaps, f"al{i}", width, 1, bias=True)
    return outputs if all_stacks else outputs[-1]


def hourglass_scope(x: nn.Variable, scope: str, depth: int, width: int, train: bool) -> nn.Variable:
    with nn.parameter_scope(scope):
        return hourglass(x, depth, width, train)
