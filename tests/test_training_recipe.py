"""Training recipe pieces: crop parity with inference, schedules, named recipes, the Adaptive Wing loss,
pixel-level augmentation, box models and the two training entry points."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanzoo.errors import InputError
from fanzoo.registry import Preprocessing
from fanzoo.training.augment import Augmentation
from fanzoo.training.config import RECIPES, TrainConfig, recipe_for
from fanzoo.training.data import Sample, crop_matrices, make_example

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("input_size", [192, 256])
def test_training_crop_equals_inference_crop(shared_data: Path, input_size: int) -> None:
    """crop_matrices + warpAffine cuts the same pixels as preprocessing.crop (the authors' integer corners,
    which can make the cut one pixel wider than high), for boxes inside the photo and across its edge."""
    from fanzoo.preprocessing import box_to_center_scale, crop
    from fanzoo.pts import read_pts

    pre = Preprocessing(input_size=input_size)
    for image in sorted((shared_data / "300w" / "trainset" / "lfpw").glob("*.jpg"))[:4]:
        photo = np.ascontiguousarray(cv2.imread(str(image))[:, :, ::-1])
        pts = read_pts(image.with_suffix(".pts"))
        for box in [(*pts.min(0), *pts.max(0)), (-30.0, -20.0, 120.0, 150.0)]:
            center, scale = box_to_center_scale(box, pre)
            expected = crop(photo, center, scale, pre).astype(np.int16)
            to_crop, _ = crop_matrices(box, pre)
            got = cv2.warpAffine(photo, to_crop, (input_size, input_size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.int16)
            # OpenCV's resize and warpAffine round their fixed-point weights differently: a few grey
            # levels; a crop shifted or scaled by one pixel differs by tens on every edge of the face
            diff = np.abs(got - expected)
            assert diff.max() <= 6 and diff.mean() < 0.3, (image.name, box, diff.max(), diff.mean())


def test_cosine_schedule_warms_up_then_falls_to_its_floor() -> None:
    config = TrainConfig(iterations=1000, schedule="cosine", warmup=100, lr_floor=0.01, learning_rate=1e-3)
    rates = np.array([config.learning_rate_at(i) for i in range(1000)])
    assert rates[0] == pytest.approx(1e-5) and rates[99] == pytest.approx(1e-3)
    assert np.all(np.diff(rates[:100]) > 0) and np.all(np.diff(rates[100:]) <= 0)
    assert rates[550] == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5), rel=1e-6)  # half way down the cosine
    assert config.learning_rate_at(1000) == pytest.approx(1e-5)


def test_named_recipes_round_trip_and_unknown_names_are_refused() -> None:
    for name, recipe in RECIPES.items():
        assert recipe.recipe == name
        assert TrainConfig.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    assert recipe_for("2dfan-lite-v2") == RECIPES["2dfan-lite-v2"]
    assert recipe_for("2dfan-lite") == RECIPES["2dfan-lite-v1"]
    assert recipe_for("tinyfan", "2dfan-lite-v2").model == "tinyfan"
    assert recipe_for("tinyfan") == TrainConfig(model="tinyfan")
    with pytest.raises(InputError, match="unknown training recipe"):
        recipe_for("2dfan-lite", "v3")
    with pytest.raises(InputError, match="unknown heatmap loss"):
        TrainConfig(loss="l1")


def awing_reference(y: np.ndarray, t: np.ndarray, w_fg: float) -> float:
    """The paper's formula (Wang et al., ICCV 2019, eq. 6 and the weighted loss map), in numpy."""
    alpha, omega, eps, theta = 2.1, 14.0, 1.0, 0.5
    d, p = np.abs(y - t), alpha - t
    a = omega * (1 / (1 + (theta / eps) ** p)) * p * (theta / eps) ** (p - 1) / eps
    c = theta * a - omega * np.log(1 + (theta / eps) ** p)
    loss = np.where(d < theta, omega * np.log(1 + (d / eps) ** p), a * d - c)
    padded = np.pad(t, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, w = t.shape[2:]
    dilated = np.max([padded[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)
    return float((loss * (1 + w_fg * (dilated > 0.2))).sum(axis=(2, 3)).mean())


def test_adaptive_wing_loss_matches_the_papers_formula_and_its_gradient() -> None:
    nn = pytest.importorskip("nnabla")
    from fanzoo.training.losses import adaptive_wing

    rng = np.random.default_rng(0)
    t = (rng.random((2, 3, 9, 9)) ** 4).astype(np.float32)
    y = (t + rng.normal(0, 0.4, t.shape)).astype(np.float32)  # errors on both sides of theta
    yv, tv = nn.Variable.from_numpy_array(y, need_grad=True), nn.Variable.from_numpy_array(t)
    loss = adaptive_wing(yv, tv, 10.0)
    loss.forward()
    yv.grad.zero()
    loss.backward()
    assert float(loss.d) == pytest.approx(awing_reference(y, t, 10.0), rel=1e-5)
    analytic = yv.g.copy()
    for index in [(0, 0, 0, 0), (1, 2, 4, 4), (0, 1, 8, 3)]:
        step = np.zeros_like(y, dtype=np.float64)
        step[index] = 1e-3
        numeric = (awing_reference(y + step, t, 10.0) - awing_reference(y - step, t, 10.0)) / 2e-3
        assert analytic[index] == pytest.approx(numeric, rel=2e-2, abs=1e-3), index


def test_pixel_augmentations_change_pixels_not_targets(tmp_path: Path) -> None:
    """Occlusion, blur, JPEG, contrast and grey draw after the geometry: the targets stay the same."""
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (240, 240, 3), dtype=np.uint8)
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), photo)
    pts = rng.uniform(70, 170, (68, 2))
    sample = Sample(str(path), pts, (*pts.min(0), *pts.max(0)))
    pre = Preprocessing(input_size=128)
    plain = Augmentation(flip=0.5, rotate_p=1.0)
    heavy = Augmentation(flip=0.5, rotate_p=1.0, occlusion=1.0, blur=1.0, jpeg=1.0, contrast=0.3, grey=1.0)
    for seed in range(4):
        x0, t0, c0 = make_example(sample, pre, plain, np.random.default_rng(seed))
        x1, t1, c1 = make_example(sample, pre, heavy, np.random.default_rng(seed))
        np.testing.assert_array_equal(c1, c0)
        np.testing.assert_array_equal(t1, t0)
        assert x1.shape == x0.shape and 0.0 <= x1.min() and x1.max() <= 1.0
        np.testing.assert_array_equal(x1[0], x1[1])  # grey
        assert np.abs(x1 - x0).mean() > 0.01


def test_box_model_measured_with_another_detector_is_refused(tmp_path: Path) -> None:
    from fanzoo.training.boxes import load_box_model

    cache = tmp_path / "box_model.json"
    cache.write_text('{"dx": 0.0, "dy": -0.1, "w": 1.05, "h": 1.05, "n": 1}')  # no key: the v1 run's dlib-hog
    assert load_box_model(tmp_path, cache, "dlib-hog")["w"] == 1.05
    with pytest.raises(InputError, match="measured with detector dlib-hog"):
        load_box_model(tmp_path, cache, "centerface")


@pytest.mark.parametrize("content", ["{not json", "[1]", "[" * 100_000 + "]" * 100_000, b"\xff\xfe"])
def test_damaged_run_folder_files_are_one_error(tmp_path: Path, content: str | bytes) -> None:
    """The run folder's cached measurements and checkpoint state: a damaged one says which file and what to do."""
    from fanzoo.training.boxes import load_box_model, load_detections
    from fanzoo.training.checkpoints import checkpoint_dir, read_state

    def write(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    for load, name in ((load_box_model, "box_model.json"), (load_detections, "detections.json")):
        with pytest.raises(InputError, match=f"{name} is damaged .*delete it to measure again"):
            load(tmp_path, write(tmp_path / name), "dlib-hog")
    write(checkpoint_dir(tmp_path) / "state.json")
    with pytest.raises(InputError, match="state.json is damaged .*start a new one"):
        read_state(tmp_path)


def test_training_refuses_test_sets_even_through_a_symlink(tmp_path: Path) -> None:
    from fanzoo.training.loop import check_training_folder

    test_folder = tmp_path / "300w" / "testset" / "helen"
    test_folder.mkdir(parents=True)
    link = tmp_path / "looks_like_training"
    link.symlink_to(test_folder)
    for folder in (test_folder, link):
        with pytest.raises(InputError, match="refusing to train on a test set"):
            check_training_folder(folder)
    with pytest.raises(InputError, match="no training data"):
        check_training_folder(tmp_path / "missing")


def test_fanzoo_train_refuses_a_test_set(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fanzoo.cli import cli
    from fanzoo.cli import train as _train_command  # noqa: F401  (registers the subcommand)

    (tmp_path / "testset").mkdir()
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "testset")])
    assert result.exit_code == 1 and "refusing to train on a test set" in result.output


def test_python_m_fanzoo_training_is_fanzoo_train(tmp_path: Path) -> None:
    """The module entry point runs the click command: its options, its guard, its exit code."""
    (tmp_path / "testset").mkdir()
    command = [sys.executable, "-m", "fanzoo.training"]
    done = subprocess.run([*command, str(tmp_path / "testset")], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 1 and "refusing to train on a test set" in done.stderr
    help_text = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
    assert "--recipe" in help_text and "--processes" in help_text and "python -m fanzoo.training" in help_text


def test_detector_boxes_are_matched_to_their_faces_and_used_for_training(shared_data: Path, tmp_path: Path) -> None:
    """detect_faces runs a registered detector on each annotated face (dlib HOG here) and keeps the box that
    overlaps the landmarks; load_samples trains on those boxes and places the typical box where it missed."""
    import shutil

    from fanzoo.metrics import iou
    from fanzoo.pts import read_pts
    from fanzoo.training.boxes import detect_faces, detector_like_box, placement
    from fanzoo.training.data import load_samples

    folder = tmp_path / "faces"
    (folder / "lfpw").mkdir(parents=True)
    for jpg in sorted((shared_data / "300w" / "trainset" / "lfpw").glob("*.jpg"))[:3]:
        shutil.copy(jpg, folder / "lfpw")
        shutil.copy(jpg.with_suffix(".pts"), folder / "lfpw")
    detections = detect_faces(folder, "dlib-hog")
    assert detections["detector"] == "dlib-hog" and sorted(detections["boxes"])[0].startswith("lfpw/")
    found = {k: b for k, b in detections["boxes"].items() if b is not None}
    assert found, "dlib HOG finds these frontal LFPW faces"
    for key, box in found.items():
        points = read_pts((folder / key).with_suffix(".pts"))
        assert iou(tuple(box), (*points.min(0), *points.max(0))) >= 0.3
    model = placement(folder, detections)
    assert model["n"] == len(found) and 0.8 < model["w"] < 1.3 and 0.8 < model["h"] < 1.3
    missed = sorted(detections["boxes"])[0]
    detections["boxes"][missed] = None
    samples = {Path(s.image).relative_to(folder).as_posix(): s for s in load_samples(folder, model, detections)}
    for key, sample in samples.items():
        box = detections["boxes"][key]
        expected = detector_like_box(sample.points, model) if box is None else tuple(box)
        np.testing.assert_allclose(sample.box, expected)


def test_recipe_settings_change_named_fields_only() -> None:
    from fanzoo.cli.train import parse_settings

    base = RECIPES["2dfan-lite-v2"]
    changed = base.with_settings(parse_settings(("loss=weighted-mse", "iterations=2000", "lr_floor=0",
                                                 "augmentation.occlusion=0", "augmentation.blur_sigma=[1, 3]")))
    assert changed.loss == "weighted-mse" and changed.iterations == 2000 and changed.lr_floor == 0.0
    assert changed.augmentation.occlusion == 0.0 and changed.augmentation.blur_sigma == (1, 3)
    assert changed.augmentation.jpeg == base.augmentation.jpeg and changed.schedule == base.schedule
    for bad, message in [("augmentation.wings=1", "unknown recipe setting"), ("iterations=many", "of type int, got 'many'"),
                         ("loss=l2", "unknown heatmap loss"), ("seed", "KEY=VALUE"),
                         ("iterations=" + "[" * 100_000 + "]" * 100_000, "of type int, got '\\[{56}\\.\\.\\.$")]:
        with pytest.raises(InputError, match=message):
            base.with_settings(parse_settings((bad,)))
