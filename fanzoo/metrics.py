"""Landmark accuracy: NME (outer-eye-corner and box normalisation), CED curve, AUC and failure rate."""
from __future__ import annotations

import numpy as np

OUTER_EYE_CORNERS = (36, 45)  # 0-based indices in the 68-point markup


def point_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error of each landmark in pixels, 2D only."""
    return np.linalg.norm(pred[:, :2] - gt[:, :2], axis=1)


def interocular(gt: np.ndarray) -> float:
    """The 300-W normalisation: distance between the outer eye corners."""
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(gt[a, :2] - gt[b, :2]))


def box_size(gt: np.ndarray) -> float:
    """The FAN paper's normalisation: sqrt(width * height) of the ground-truth landmarks' box."""
    w, h = gt[:, :2].max(0) - gt[:, :2].min(0)
    return float(np.sqrt(w * h))


def nme(pred: np.ndarray, gt: np.ndarray, norm: str = "eye") -> float:
    d = interocular(gt) if norm == "eye" else box_size(gt)
    return float(point_errors(pred, gt).mean() / d)


def ced(errors: np.ndarray, limit: float = 0.08, steps: int = 801) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: fraction of faces with NME <= x, for x in [0, limit]."""
    xs = np.linspace(0.0, limit, steps)
    errors = np.sort(np.asarray(errors))
    return xs, np.searchsorted(errors, xs, side="right") / max(len(errors), 1)


def auc(errors: np.ndarray, limit: float = 0.08) -> float:
    """Area under the CED curve up to ``limit``, divided by ``limit`` (1.0 = every face perfect)."""
    xs, ys = ced(errors, limit)
    # the trapezoid rule by hand: numpy 2 removed np.trapz, and numpy 1.x has no np.trapezoid
    return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2.0 / limit)


def failure_rate(errors: np.ndarray, limit: float = 0.08) -> float:
    errors = np.asarray(errors)
    return float((errors > limit).mean()) if len(errors) else float("nan")


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
