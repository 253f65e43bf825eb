"""iBUG .pts landmark files (300-W markup): 1-based pixel coordinates on disk, 0-based in memory."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .errors import InputError

MAX_PTS_BYTES = 1 << 20  # 68 points take about 1.5 KB


def read_pts(path: Path | str) -> np.ndarray:
    """(n_points, 2) float64 array of 0-based image coordinates."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_PTS_BYTES:
            raise InputError(f"{path} is larger than {MAX_PTS_BYTES >> 10} KiB; that is no .pts file")
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="strict").splitlines()]
    except OSError as exc:  # its message would repeat the path
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not an iBUG .pts file (not UTF-8 text: {exc.reason})") from None
    try:
        n = next(int(ln.split(":", 1)[1]) for ln in lines if ln.startswith("n_points"))
        start = lines.index("{") + 1
        end = lines.index("}", start)
        points = np.array([[float(v) for v in ln.split()] for ln in lines[start:end] if ln], dtype=np.float64)
    except (StopIteration, ValueError, IndexError) as exc:
        raise InputError(f"{path} is not an iBUG .pts file ({exc})") from exc
    if points.shape != (n, 2):
        raise InputError(f"{path} declares {n} points but holds {points.shape[0]}")
    if not np.isfinite(points).all():
        raise InputError(f"{path} holds coordinates that are not finite numbers")
    return points - 1.0


def format_pts(points: np.ndarray) -> str:
    body = "\n".join(f"{x + 1.0:.3f} {y + 1.0:.3f}" for x, y in np.asarray(points)[:, :2])
    return f"version: 1\nn_points:  {len(points)}\n{{\n{body}\n}}\n"


def write_pts(path: Path | str, points: np.ndarray) -> None:
    """Write 0-based (n, 2+) points as a 1-based .pts file, atomically."""
    atomic_write_text(path, format_pts(points))


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def annotated_images(folder: Path | str) -> list[tuple[Path, Path]]:
    """(image, .pts) pairs below a folder, sorted, for every image that has a .pts beside it."""
    pairs = []
    for pts in sorted(Path(folder).rglob("*.pts")):
        for suffix in IMAGE_SUFFIXES:
            image = pts.with_suffix(suffix)
            if image.exists():
                pairs.append((image, pts))
                break
    return pairs
