"""Training: a few iterations on a tiny subset, exact resume, and augmentation that keeps points aligned."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fanzoo.decoding import decode_heatmaps
from fanzoo.plugins import use_plugins
from fanzoo.registry import Preprocessing
from fanzoo.training.data import Augmentation, Sample, make_example

from .tiny import plugins_with, tiny_spec

pytest.importorskip("nnabla")


@pytest.fixture
def subset(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "subset"
    folder.mkdir()
    for jpg in sorted((shared_data / "300w" / "trainset" / "afw").glob("*.jpg"))[:12]:
        shutil.copy(jpg, folder)
        shutil.copy(jpg.with_suffix(".pts"), folder)
    return folder


def tiny_config(**changes: object):  # noqa: ANN201
    from fanzoo.training.loop import TrainConfig
    base = TrainConfig(model="tinyfan", batch_size=4, iterations=6, validate_every=2, checkpoint_every=2,
                       validation_images=4, learning_rate=1e-3)
    return replace(base, **changes)


def params_of(run: Path) -> dict[str, np.ndarray]:
    from fanzoo.weights.h5params import read_h5_params
    return read_h5_params(run / "checkpoint" / "params.h5")


def test_training_runs_and_resumes_exactly(subset: Path, tmp_path: Path) -> None:
    from fanzoo.training.loop import summary, train

    spec = tiny_spec()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    box = tmp_path / "a" / "box_model.json"
    box.write_text('{"dx": 0.0, "dy": -0.1, "w": 1.05, "h": 1.05, "n": 1}')  # skip measuring it on 12 faces
    shutil.copy(box, tmp_path / "b")
    with use_plugins(plugins_with(spec)):
        train(spec, tiny_config(), subset, tmp_path / "a", progress=False)
        train(spec, tiny_config(), subset, tmp_path / "b", max_iterations=2, progress=False)
        train(spec, tiny_config(), subset, tmp_path / "b", progress=False)  # resumes at 2
    straight, resumed = params_of(tmp_path / "a"), params_of(tmp_path / "b")
    assert straight.keys() == resumed.keys()
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-6, atol=1e-7, err_msg=key)
    log = summary(tmp_path / "a" / "log.jsonl")
    assert [r["iteration"] for r in log] == [2, 4, 6]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["val_nme"]) for r in log)
    assert log[-1]["loss"] < log[0]["loss"]
    assert (tmp_path / "a" / "best.h5").is_file()


@pytest.mark.parametrize("seed", range(6))
def test_augmented_targets_follow_the_points(shared_data: Path, seed: int) -> None:
    """After flip/rotation/scale/shift, the target heatmaps still peak where the face's points went:
    the image content and the targets move together (checked through the eye corners' symmetry)."""
    from fanzoo.pts import read_pts

    image = sorted((shared_data / "300w" / "trainset" / "helen").glob("*.jpg"))[seed]
    pts = read_pts(image.with_suffix(".pts"))
    box = (*pts.min(0), *pts.max(0))
    pre = Preprocessing(input_size=128)
    aug = Augmentation(flip=0.5, rotate_p=1.0)
    x, target, coords = make_example(Sample(str(image), pts, box), pre, aug, np.random.default_rng(seed))
    decoded, _ = decode_heatmaps(target[None])
    inside = (coords > 1) & (coords < pre.heatmap_size - 1)
    ok = inside.all(axis=1)
    assert np.abs(decoded[0][ok] - coords[ok]).max() <= 0.75
    # landmark 36 (image-left outer eye corner) stays left of 45 after a flip, as the swap requires
    assert coords[36, 0] < coords[45, 0]
    assert x.shape == (3, 128, 128) and 0.0 <= x.min() and x.max() <= 1.0
