"""The One Euro filter (Casiez, Roussel & Vogel, CHI 2012) over a face's landmarks, one filter per track.

A low-pass filter whose cut-off rises with speed: still faces get heavy smoothing (no jitter), moving
faces little (no lag). Speeds are measured in face sizes per second, so one setting fits any resolution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class OneEuroParams:
    """``min_cutoff`` (Hz): smoothing at rest, lower is smoother; ``beta``: how fast the cut-off rises with
    speed (per face size per second), higher lags less; ``d_cutoff`` (Hz): smoothing of the speed estimate."""

    min_cutoff: float = 1.0
    beta: float = 5.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "beta", "d_cutoff"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (value == 0 and name != "beta"):
                raise InputError(f"One Euro filter: {name} must be a finite number > 0 (beta >= 0), got {value!r}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Weight of the new sample for an exponential filter with this cut-off frequency at this time step."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a (N, D) array of points over time; each point's cut-off follows its own speed."""

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.params = params
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None  # filtered derivative, (N, D) in pixels per second
        self._time = 0.0

    def reset(self) -> None:
        self._value = self._speed = None

    def __call__(self, points: np.ndarray, time: float, scale: float) -> np.ndarray:
        """The filtered points at ``time`` (seconds); ``scale`` is the face size in pixels (speeds divide by it)."""
        points = np.asarray(points, dtype=np.float64)
        if self._value is None or self._value.shape != points.shape or time <= self._time:
            # the first sample (or one that does not move time forward) is taken as it is
            self._value, self._speed, self._time = points.copy(), np.zeros_like(points), time
            return points.copy()
        dt = time - self._time
        p = self.params
        raw_speed = (points - self._value) / dt
        self._speed = self._speed + _alpha(p.d_cutoff, dt) * (raw_speed - self._speed)
        # one cut-off per point, from its speed in face sizes per second (x, y and z move together)
        speed = np.linalg.norm(self._speed, axis=1, keepdims=True) / max(scale, 1e-6)
        alpha = _alpha(p.min_cutoff + p.beta * speed, dt)
        self._value = self._value + alpha * (points - self._value)
        self._time = time
        return self._value.copy()
