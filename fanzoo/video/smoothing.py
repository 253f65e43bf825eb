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
    """One Euro filter settings. ``min_cutoff`` (Hz): smoothing at rest, lower is smoother; ``beta``: how fast
    the cut-off rises with speed (in face sizes per second), higher lags less; ``d_cutoff`` (Hz): smoothing of
    the speed estimate. These apply to the face's shape; ``pose_min_cutoff`` and ``pose_beta`` to its rigid
    motion (position, size, angle), which needs little smoothing (see :class:`LandmarkSmoother`)."""

    min_cutoff: float = 0.5
    beta: float = 5.0
    d_cutoff: float = 1.0
    pose_min_cutoff: float = 15.0
    pose_beta: float = 30.0

    @property
    def pose(self) -> OneEuroParams:
        """The settings of the rigid-motion filter, as a plain One Euro filter's."""
        return OneEuroParams(self.pose_min_cutoff, self.pose_beta, self.d_cutoff, self.pose_min_cutoff, self.pose_beta)

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "beta", "d_cutoff", "pose_min_cutoff", "pose_beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (value == 0 and "beta" not in name):
                raise InputError(f"One Euro filter: {name} must be a finite number > 0 (the betas >= 0), got {value!r}")


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


class LandmarkSmoother:
    """One Euro filters on a face's landmarks, split into the face's rigid motion and its shape.

    Heatmap noise moves each point on its own, while faces in video mostly move rigidly: the similarity transform
    (position, size, angle) fitted to all the points is already averaged over them and gets a light filter, so
    motion does not lag; the shape left in the face's own frame (size 1) gets the strong one. Measured on the
    clip of benchmarks/video.py, filtering the points directly cut jitter less and lagged more."""

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.shape = OneEuroFilter(params)
        self.position, self.rotation = OneEuroFilter(params.pose), OneEuroFilter(params.pose)
        self._reference: np.ndarray | None = None  # complex (N,) shape of the first frame, centred, size 1
        self._angle = 0.0

    def reset(self) -> None:
        self._reference = None
        for f in (self.shape, self.position, self.rotation):
            f.reset()

    def __call__(self, points: np.ndarray, time: float) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64)
        xy = points[:, 0] + 1j * points[:, 1]
        if self._reference is None or len(self._reference) != len(xy):
            centred = xy - xy.mean()
            self._reference = centred / np.sqrt(np.mean(np.abs(centred) ** 2))
        ref = self._reference
        # least-squares similarity reference -> points: xy ~ a * ref + t, a = size * e^(i angle)
        a = np.vdot(ref, xy - xy.mean()) / np.vdot(ref, ref)
        t = xy.mean() - a * ref.mean()
        size = float(abs(a))
        # unwrap so the angle never jumps by 2 pi between frames
        angle = self._angle + float(np.angle(a * np.exp(-1j * self._angle)))
        self._angle = angle
        canonical = (xy - t) / a
        shape = np.stack([canonical.real, canonical.imag], axis=1)
        if points.shape[1] == 3:
            shape = np.concatenate([shape, points[:, 2:] / size], axis=1)
        shape = self.shape(shape, time, 1.0)
        position = self.position(np.array([[t.real, t.imag]]), time, size)[0]
        log_size, angle = self.rotation(np.array([[math.log(size), angle]]), time, 1.0)[0]
        a = math.exp(log_size) * np.exp(1j * angle)
        out = a * (shape[:, 0] + 1j * shape[:, 1]) + (position[0] + 1j * position[1])
        result = np.stack([out.real, out.imag], axis=1)
        if points.shape[1] == 3:
            result = np.concatenate([result, shape[:, 2:] * math.exp(log_size)], axis=1)
        return result
