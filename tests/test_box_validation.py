"""Boxes given to the Python API: anything but 4 finite numbers framing a region of the image is an InputError,
and a huge box costs no memory (it used to allocate a padded crop of its own size: 45 TiB at 1e6)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fanzoo.detection import FaceBox
from fanzoo.errors import InputError
from fanzoo.imageio import read_image

from .bounded import run_bounded
from .conftest import ROOT

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
GOOD = [179.0, 83.0, 266.0, 170.0]


@pytest.fixture(scope="module")
def predictor():
    from fanzoo.api import load_predictor

    return load_predictor(detector=None)  # the bundled model's shipped ONNX export


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return read_image(ASTRONAUT)


BAD_BOXES = {
    "five numbers": [[*GOOD, 0.9]],
    "three numbers": [[1.0, 2.0, 3.0]],
    "text": [["a", "b", "c", "d"]],
    "nan": [[np.nan, 1.0, 50.0, 50.0]],
    "inf": [[0.0, 0.0, np.inf, 50.0]],
    "reversed": [[50.0, 50.0, 10.0, 10.0]],
    "not a list of boxes": 5,
    "a bare box, not a list of boxes": GOOD,
    "None inside": [None],
    "huge": [[0.0, 0.0, 1e6, 1e6]],
    "huge float": [[0.0, 0.0, 1e308, 1e308]],
    "far outside": [[1e15, 1e15, 1e15 + 100, 1e15 + 100]],
    "outside": [[-500.0, -500.0, -400.0, -400.0]],
    "FaceBox with nan": [FaceBox(np.nan, 0, 10, 10)],
    "FaceBox with a nan score": [FaceBox(*GOOD, score=np.nan)],
}


@pytest.mark.parametrize("case", sorted(BAD_BOXES))
def test_bad_boxes_are_input_errors(predictor, image: np.ndarray, case: str) -> None:
    with pytest.raises(InputError):
        predictor.predict(image, BAD_BOXES[case])
    with pytest.raises(InputError):
        predictor.predict_many([image], [BAD_BOXES[case]])


def test_good_boxes_in_every_form(predictor, image: np.ndarray) -> None:
    forms = [[GOOD], [tuple(GOOD)], np.array([GOOD]), [FaceBox(*GOOD)], [np.array(GOOD, np.float32)]]
    results = [predictor.predict(image, boxes) for boxes in forms]
    for faces in results:
        assert len(faces) == 1 and faces[0].box == tuple(GOOD)
        np.testing.assert_allclose(faces[0].landmarks, results[0][0].landmarks, atol=1e-3)
    assert predictor.predict(image, []) == []


def huge_box_prediction() -> object:
    from fanzoo.api import load_predictor

    return load_predictor(detector=None).predict(read_image(ASTRONAUT), [[0.0, 0.0, 1e6, 1e6]])


def test_huge_box_costs_no_memory() -> None:
    """Refused before any buffer of the box's size exists (run where an allocation attempt would show)."""
    outcome = run_bounded("tests.test_box_validation:huge_box_prediction", extra_bytes=3 << 30)
    assert outcome.raised(InputError) and outcome.peak_growth < 200 << 20, outcome


def test_box_inside_a_large_canvas_still_works(predictor, image: np.ndarray) -> None:
    """A face box partly outside the image (a face at the border) is legitimate and still predicted."""
    faces = predictor.predict(image, [[-40.0, -40.0, 120.0, 120.0]])
    assert len(faces) == 1 and np.isfinite(faces[0].landmarks).all()


def test_run_bounded_sees_the_test_package(tmp_path: Path) -> None:
    """The child process imports helpers from tests/ (the forkserver starts in the repository root)."""
    assert run_bounded("tests.hostile:floats", 2).kind == "ok"
