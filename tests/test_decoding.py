"""The heatmap decoder's sub-pixel rules: the authors' quarter-pixel nudge and the gaussian fit."""
from __future__ import annotations

import numpy as np
import pytest

from fanzoo.decoding import decode_heatmaps
from fanzoo.training.data import heatmaps


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_gaussian_rule_recovers_a_gaussian_peak_exactly(sigma: float) -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(3, 45, (68, 2)).astype(np.float32)  # heatmap coordinates, pixel centre i is i + 0.5
    maps = heatmaps(truth, 48, sigma)[None] * 0.8  # the scale of the peak does not matter
    fitted, scores = decode_heatmaps(maps, "gaussian")
    quarter, _ = decode_heatmaps(maps)
    assert np.abs(fitted[0] - truth).max() < 1e-3
    # the authors' rule is right only to within a quarter pixel (and about 0.15 px on average)
    assert 0.1 < np.abs(quarter[0] - truth).mean() < 0.25 and np.abs(quarter[0] - truth).max() <= 0.25 + 1e-6
    assert np.allclose(scores, maps.reshape(1, 68, -1).max(-1))


def test_gaussian_rule_survives_non_positive_outputs() -> None:
    """Networks output values <= 0 beside a peak, and all-negative maps where a landmark is unseen."""
    maps = np.full((1, 3, 8, 8), -0.2, np.float32)
    maps[0, 0, 4, 4], maps[0, 0, 4, 5] = 1.0, 0.9   # right neighbour high, left one negative
    maps[0, 1, 2, 2] = -0.1                           # the whole map is negative: keep the pixel centre
    maps[0, 2, 3, 3], maps[0, 2, 3, 2], maps[0, 2, 3, 4] = 1.0, 0.0, 0.0  # symmetric: no shift
    coords, _ = decode_heatmaps(maps, "gaussian")
    assert np.isfinite(coords).all()
    assert 4.5 < coords[0, 0, 0] <= 5.0 and coords[0, 0, 1] == pytest.approx(4.5)
    np.testing.assert_allclose(coords[0, 1], [2.5, 2.5])
    np.testing.assert_allclose(coords[0, 2], [3.5, 3.5])


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="quarter, gaussian"):
        decode_heatmaps(np.zeros((1, 1, 4, 4), np.float32), "nearest")


def test_gaussian_rule_refines_the_inner_axis_of_a_border_peak() -> None:
    """A peak in the first row (or last column) still has both neighbours along the other axis."""
    truth = np.array([[20.3, 0.4], [47.6, 11.7]], np.float32)
    maps = heatmaps(truth, 48, 1.0)[None]
    coords, _ = decode_heatmaps(maps, "gaussian")
    assert coords[0, 0, 0] == pytest.approx(20.3, abs=1e-3) and coords[0, 0, 1] == pytest.approx(0.5)
    assert coords[0, 1, 1] == pytest.approx(11.7, abs=1e-3) and coords[0, 1, 0] == pytest.approx(47.5)
