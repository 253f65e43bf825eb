""".pts files and atomic writes (image reading and detectors: test_imageio.py, test_detection.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fanzoo.atomic import atomic_dir, atomic_write_text
from fanzoo.errors import InputError
from fanzoo.pts import format_pts, read_pts, write_pts


def test_pts_round_trip(tmp_path: Path) -> None:
    points = np.random.default_rng(0).random((68, 2)) * 100
    write_pts(tmp_path / "a.pts", points)
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), points, atol=1e-3)
    assert format_pts(points).startswith("version: 1\nn_points:  68\n{\n")
    (tmp_path / "bad.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    with pytest.raises(InputError, match="declares 68 points"):
        read_pts(tmp_path / "bad.pts")


def test_atomic_writes_leave_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    folder = tmp_path / "dir"
    with atomic_dir(folder) as tmp:
        (tmp / "f").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(folder) as tmp:
            (tmp / "f").write_text("v2")
            raise RuntimeError("interrupted")
    assert (folder / "f").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "dir"]
