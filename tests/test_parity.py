"""fanzoo against the authors' face-alignment 1.5.0 (fixtures from tools/make_fixtures.py), without torch."""
from __future__ import annotations

import numpy as np
import pytest

from fanzoo.decoding import decode_heatmaps
from fanzoo.plugins import get_model
from fanzoo.predictor import Predictor
from fanzoo.preprocessing import box_to_center_scale, crop, to_network_input

from .parity import fixture, sessions

pytest.importorskip("nnabla")
pytestmark = pytest.mark.slow


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize("name", ["2dfan4", "3dfan4"])
def test_fan4_heatmaps_match_pytorch(name: str) -> None:
    record = fixture(name)
    fan, _ = sessions(name)
    n = len(record["heatmaps"])
    ours = fan.run({"x": to_network_input(list(record["crops"][:n]))})["heatmaps"]
    assert relative_error(ours, record["heatmaps"]) <= 1e-4
    # the reference really depends on BatchNorm: its output is far from trivially small
    assert np.abs(record["heatmaps"]).max() > 1.0


def test_crop_matches_authors(shared_data) -> None:
    import cv2

    record = fixture("2dfan4")
    for rel, box, theirs in zip(record["images"], record["boxes"], record["crops"]):
        image = cv2.imread(str(shared_data / str(rel)), cv2.IMREAD_COLOR)[:, :, ::-1]
        center, scale = box_to_center_scale(box)
        np.testing.assert_array_equal(crop(np.ascontiguousarray(image), center, scale), theirs)


def images_of(record: dict, shared_data) -> list[np.ndarray]:
    import cv2

    return [np.ascontiguousarray(cv2.imread(str(shared_data / str(rel)), cv2.IMREAD_COLOR)[:, :, ::-1])
            for rel in record["images"]]


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("name", ["2dfan4", "3dfan4"])
def test_pipeline_matches_get_landmarks_from_image(name: str, flip: bool, shared_data) -> None:
    record = fixture(name)
    fan, depth = sessions(name)
    predictor = Predictor(get_model(name), fan, depth, flip=flip, batch_size=4)
    faces = predictor.predict_many(images_of(record, shared_data), [[b] for b in record["boxes"]])
    ours = np.stack([f[0].landmarks for f in faces])
    theirs_float = record[f"float_xy_flip{int(flip)}"]
    theirs_int = record[f"landmarks_flip{int(flip)}"]
    # sub-pixel: within 0.01 px of the authors' coordinates before their int32 truncation ...
    assert np.abs(ours[..., :2] - theirs_float).max() <= 0.01
    # ... hence equal to theirs after it, except where a value sits within 0.01 px of an integer
    truncated = np.trunc(ours[..., :2])
    near_integer = np.abs(theirs_float - np.round(theirs_float)) < 0.01
    assert np.all((truncated == theirs_int[..., :2]) | near_integer)
    np.testing.assert_allclose(np.stack([f[0].landmark_scores for f in faces]), record[f"scores_flip{int(flip)}"],
                               rtol=1e-4, atol=1e-4 * np.abs(record[f"scores_flip{int(flip)}"]).max())
    if name == "3dfan4":
        z_ours, z_theirs = ours[..., 2], theirs_int[..., 2]
        assert relative_error(z_ours, z_theirs) <= 1e-3


def test_decode_peak_in_last_column() -> None:
    """nnabla-examples' decode is off by one for peaks in the last columns; the authors' formula is not."""
    hm = np.zeros((1, 68, 64, 64), np.float32)
    hm[0, :, 10, 63] = 1.0  # peak in column 63: on the border, so no quarter-pixel shift
    hm[0, 0, 10, 62] = 2.0  # landmark 0 peaks in column 62 with a larger right neighbour than left
    hm[0, 0, 10, 63] = 1.5
    coords, scores = decode_heatmaps(hm)
    np.testing.assert_allclose(coords[0, 1], [63.5, 10.5])
    np.testing.assert_allclose(coords[0, 0], [62.75, 10.5])
    assert scores[0, 0] == 2.0 and scores[0, 1] == 1.0
