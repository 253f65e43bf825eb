"""An inference install leaves out what only some uses need; each of those says which extra brings it.

(tools/test.sh checks what an inference-only install resolves to; here each missing piece is hidden from
the import system, as it is where its extra is not installed.)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fanzoo.errors import BackendUnavailableError, WeightsError

from .conftest import FIXTURES


def test_reading_h5_without_h5py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from fanzoo.weights.importer import read_any_weights

    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(WeightsError, match=r"pip install 'fanzoo\[h5\]'"):
        read_any_weights(Path(__file__).resolve().parents[1] / "fanzoo" / "bundled" / "2dfan-lite.h5")
    # the authors' checkpoints and .npz files need no h5py at all
    assert read_any_weights(FIXTURES / "tiny_fan_zip.pth")[1] == "torch"


def test_video_without_pyav_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fanzoo.video import VideoReader

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'fanzoo\[video\]'"):
        VideoReader(tmp_path / "clip.mp4")


def test_evaluate_metrics_need_no_plotting_library() -> None:
    from fanzoo.metrics import auc

    # one face at NME 0.04: its CED is a step half-way along [0, 0.08], so the area is one half
    assert auc(np.array([0.04])) == pytest.approx(0.5, abs=1e-3)
    assert auc(np.zeros(5)) == pytest.approx(1.0, abs=1e-3) and auc(np.full(5, 0.5)) == 0.0
