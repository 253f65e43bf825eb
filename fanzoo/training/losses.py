"""Heatmap losses of the training graph, summed over each map and averaged over maps and batch.

A per-pixel mean would shrink the gradient of the few peak pixels by H*W and slow the start of training,
so every loss here is a per-map sum.
"""
from __future__ import annotations

import math

import nnabla as nn
import nnabla.functions as F

from .config import TrainConfig


def weighted_squared_error(y: nn.Variable, t: nn.Variable, foreground_weight: float) -> nn.Variable:
    """(y - t)^2 * (1 + w t): the peak pixels count more, or the ~2300 background pixels of a map outvote them."""
    error = F.squared_error(y, t)
    if foreground_weight:
        error = error * (1.0 + foreground_weight * t)
    return F.mean(F.sum(error, axis=(2, 3)))


# Adaptive Wing loss (Wang, Bo & Fuxin, ICCV 2019), with the paper's constants
AWING_ALPHA, AWING_OMEGA, AWING_EPSILON, AWING_THETA = 2.1, 14.0, 1.0, 0.5
FOREGROUND_THRESHOLD = 0.2  # target value above which a pixel (and its 3x3 neighbourhood) is foreground


def adaptive_wing(y: nn.Variable, t: nn.Variable, foreground_weight: float) -> nn.Variable:
    """Adaptive Wing loss, weighted by (1 + W M) with M the 3x3-dilated mask of target pixels > 0.2.

    Per pixel, with d = |y - t| and p = alpha - t: omega * ln(1 + (d / epsilon)^p) while d < theta, and
    the tangent line A d - C beyond. On foreground pixels (t near 1, p near 1.1) it behaves like a
    log-L1 loss whose gradient stays large for small errors, so peaks keep being refined where squared
    error has all but stopped pulling; on background pixels (t = 0, p = 2.1) it is flatter than squared
    error, so the thousands of near-zero pixels do not outvote them.
    """
    a, w, e, th = AWING_ALPHA, AWING_OMEGA, AWING_EPSILON, AWING_THETA
    d = F.abs(y - t)
    power = F.r_sub_scalar(t, a)  # alpha - t: the target is data, no gradient flows into the exponent
    ratio = F.exp(power * math.log(th / e))  # (theta / epsilon) ^ (alpha - t)
    slope = w * (1.0 / (1.0 + ratio)) * power * (ratio / (th / e)) / e  # A
    offset = th * slope - w * F.log(1.0 + ratio)  # C
    near = w * F.log(1.0 + F.pow2(d / e, power))
    inside = F.less_scalar(d, th)
    inside.need_grad = False  # a comparison has no gradient; the branches carry it
    loss = F.where(inside, near, slope * d - offset)
    if foreground_weight:
        mask = F.greater_scalar(F.max_pooling(t, (3, 3), stride=(1, 1), pad=(1, 1)), FOREGROUND_THRESHOLD)
        mask.need_grad = False
        loss = loss * (1.0 + foreground_weight * mask)
    return F.mean(F.sum(loss, axis=(2, 3)))


def heatmap_loss(y: nn.Variable, t: nn.Variable, config: TrainConfig) -> nn.Variable:
    """The recipe's loss between predicted maps ``y`` and targets ``t`` (both (N, C, H, W))."""
    if config.loss == "weighted-mse":
        return weighted_squared_error(y, t, config.foreground_weight)
    if config.loss == "awing":
        return adaptive_wing(y, t, config.foreground_weight)
    raise ValueError(f"unknown heatmap loss {config.loss!r}")
