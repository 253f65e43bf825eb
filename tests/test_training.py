"""Training: a few iterations on a tiny subset, exact resume, and augmentation that keeps points aligned."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanzoo.decoding import decode_heatmaps
from fanzoo.plugins import use_plugins
from fanzoo.registry import Preprocessing
from fanzoo.training.config import TrainConfig
from fanzoo.training.data import Augmentation, Sample, make_example

from .tiny import plugins_with, tiny_spec

# a box model written up front, so the tests do not run dlib's detector to measure one on 12 faces
BOX_MODEL = '{"dx": 0.0, "dy": -0.1, "w": 1.05, "h": 1.05, "n": 1}'


@pytest.fixture
def subset(shared_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "subset"
    folder.mkdir()
    for jpg in sorted((shared_data / "300w" / "trainset" / "afw").glob("*.jpg"))[:12]:
        shutil.copy(jpg, folder)
        shutil.copy(jpg.with_suffix(".pts"), folder)
    return folder


def tiny_config(**changes: object) -> TrainConfig:
    base = TrainConfig(model="tinyfan", batch_size=4, iterations=4, validate_every=2, checkpoint_every=2,
                       validation_images=4, learning_rate=1e-3)
    return replace(base, **changes)


def run_dir(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "box_model.json").write_text(BOX_MODEL)
    return folder


def params_of(run: Path) -> dict[str, np.ndarray]:
    from fanzoo.weights.h5params import read_h5_params
    return read_h5_params(run / "checkpoint" / "params.h5")


def test_training_runs_and_resumes_exactly(subset: Path, tmp_path: Path) -> None:
    pytest.importorskip("nnabla")
    from fanzoo.training import train
    from fanzoo.training.loop import summary
    from fanzoo.training.randomness import initial_params
    from fanzoo.weights.h5params import read_h5_params

    spec = tiny_spec()
    a, b = run_dir(tmp_path, "a"), run_dir(tmp_path, "b")
    with use_plugins(plugins_with(spec)):  # the config names "tinyfan": train() finds it in the registry
        best = train(tiny_config(), subset, a, progress=False)
        train(tiny_config(), subset, b, max_iterations=2, progress=False)
        assert json.loads((b / "checkpoint" / "state.json").read_text())["iteration"] == 2
        train(tiny_config(), subset, b, progress=False)  # resumes at 2
    straight, resumed = params_of(a), params_of(b)
    assert straight.keys() == resumed.keys()
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-6, atol=1e-7, err_msg=key)

    # it learned: finite, falling loss, and weights that moved away from the seeded start
    log = summary(a / "log.jsonl")
    assert [r["iteration"] for r in log] == [2, 4]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["val_nme"]) for r in log)
    assert log[-1]["loss"] < log[0]["loss"]
    start = initial_params({k: v.shape for k, v in straight.items()}, 0)
    assert any(not np.allclose(straight[k], start[k]) for k in straight if k.endswith("conv/W"))

    weights = read_h5_params(best)
    assert best == a / "best.h5" and "conv1/conv/W" in weights
    assert all(v.dtype == np.float32 for v in weights.values())
    state = json.loads((a / "checkpoint" / "state.json").read_text())
    assert state["iteration"] == 4 and state["rng"]["seed"] == 0
    assert TrainConfig.from_dict(state["config"]) == tiny_config()


def test_resume_keeps_the_runs_recipe(subset: Path, tmp_path: Path) -> None:
    pytest.importorskip("nnabla")
    from fanzoo.training import train
    from fanzoo.training.checkpoints import stored_config

    spec = tiny_spec()
    run = run_dir(tmp_path, "run")
    with use_plugins(plugins_with(spec)):
        train(tiny_config(iterations=2), subset, run, progress=False)
        # changed defaults must not change a started run: it stays at its 2 iterations
        train(tiny_config(iterations=3, learning_rate=0.5), subset, run, progress=False)
        assert json.loads((run / "checkpoint" / "state.json").read_text())["iteration"] == 2
        # an explicit change of recipe extends it
        train(tiny_config(iterations=3), subset, run, progress=False, keep_recipe=False)
    assert stored_config(run) == tiny_config(iterations=3)


def test_config_round_trips_through_json() -> None:
    config = TrainConfig(iterations=123, lr_drops=(0.5,), augmentation=Augmentation(sigma=2.0))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert TrainConfig.from_dict({"iterations": 5, "unknown_later_field": 1}).iterations == 5
    assert config.learning_rate_at(0) == config.learning_rate
    assert config.learning_rate_at(62) == pytest.approx(config.learning_rate * 0.1)


@pytest.mark.parametrize("seed", range(6))
def test_augmented_targets_follow_the_points(shared_data: Path, seed: int) -> None:
    """After flip/rotation/scale/shift, the target heatmaps still peak where the face's points went."""
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
    assert ok.sum() > 40
    assert np.abs(decoded[0][ok] - coords[ok]).max() <= 0.75
    # landmark 36 (image-left outer eye corner) stays left of 45 after a flip, as the swap requires
    assert coords[36, 0] < coords[45, 0]
    assert x.shape == (3, 128, 128) and 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.parametrize("flip", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_image_and_targets_move_together(tmp_path: Path, flip: float, seed: int) -> None:
    """A bright dot drawn at one landmark lands, after augmentation, where that landmark's target peaks.

    This checks the image warp against the point transform (a target that follows the points but not
    the pixels would pass the test above). With a flip, the dot drawn at landmark k is found at the
    target of its mirror partner, since the flip renames left and right."""
    from fanzoo.decoding import FLIP_PAIRS

    rng = np.random.default_rng(100 + seed)
    pts = rng.uniform(120, 200, (68, 2))  # a made-up face: only the geometry matters
    pts[36], pts[45] = (110, 140), (210, 150)
    box = (*pts.min(0), *pts.max(0))
    pre = Preprocessing(input_size=128)
    aug = Augmentation(flip=flip, rotate_p=1.0, rotation=30.0, colour=0.0)
    for k in (36, 45, 8, 30):
        canvas = np.zeros((320, 320), np.float32)
        yy, xx = np.mgrid[:320, :320]
        canvas += 255 * np.exp(-((xx - pts[k, 0]) ** 2 + (yy - pts[k, 1]) ** 2) / (2 * 3.0**2))
        path = tmp_path / f"dot{k}.png"
        cv2.imwrite(str(path), np.repeat(canvas[:, :, None], 3, axis=2).round().astype(np.uint8))
        x, target, coords = make_example(Sample(str(path), pts, box), pre, aug, np.random.default_rng(seed))
        weights = x[0] / x[0].sum()
        cy, cx = (weights * np.mgrid[:128, :128][0]).sum(), (weights * np.mgrid[:128, :128][1]).sum()
        found = (np.array([cx, cy]) + 0.5) / pre.heatmap_stride  # crop pixel centre -> heatmap coordinate
        j = FLIP_PAIRS[k] if flip else k
        assert np.linalg.norm(found - coords[j]) < 0.5, (k, found, coords[j])
        peak, _ = decode_heatmaps(target[None, j:j + 1])
        assert np.linalg.norm(found - peak[0, 0]) <= 1.0, (k, found, peak[0, 0])


def test_two_processes_train_in_step_and_resume_exactly(subset: Path, tmp_path: Path) -> None:
    """Data-parallel: the ranks' weights are compared at every checkpoint (the run stops on a mismatch),
    and 2 + resume + 2 iterations equal 4 straight ones, as with one process."""
    pytest.importorskip("nnabla")
    from fanzoo.training import train
    from fanzoo.training.loop import summary

    spec = tiny_spec()
    a, b = run_dir(tmp_path, "a"), run_dir(tmp_path, "b")
    with use_plugins(plugins_with(spec)):
        train(tiny_config(), subset, a, progress=False, spec=spec, processes=2)
        train(tiny_config(), subset, b, max_iterations=2, progress=False, spec=spec, processes=2)
        train(tiny_config(), subset, b, progress=False, spec=spec, processes=2)
    straight, resumed = params_of(a), params_of(b)
    for key in straight:
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-6, atol=1e-7, err_msg=key)
    log = summary(a / "log.jsonl")
    assert [r["processes"] for r in log] == [2, 2] and all(np.isfinite(r["loss"]) for r in log)


def test_batch_must_split_over_processes(subset: Path, tmp_path: Path) -> None:
    pytest.importorskip("nnabla")
    from fanzoo.training import train

    spec = tiny_spec()
    with use_plugins(plugins_with(spec)), pytest.raises(ValueError, match="does not split over 3"):
        train(tiny_config(), subset, run_dir(tmp_path, "a"), progress=False, spec=spec, processes=3)


def test_cut_regions_give_the_same_examples_as_the_photo(shared_data: Path) -> None:
    """The cached face region stands in for the photo: same targets, nearly the same pixels."""
    from fanzoo.pts import read_pts
    from fanzoo.training.crops import cut_region

    pre = Preprocessing(input_size=128)
    for image in sorted((shared_data / "300w" / "trainset" / "lfpw").glob("*.jpg"))[:4]:
        pts = read_pts(image.with_suffix(".pts"))
        sample = Sample(str(image), pts, (*pts.min(0), *pts.max(0)))
        photo = cv2.imread(str(image))[:, :, ::-1]
        region, frame = cut_region(photo, sample, pre)
        assert region.shape == (256, 256, 3) and region.dtype == np.uint8
        aug = Augmentation(colour=0.0)
        x0, t0, c0 = make_example(sample, pre, aug, np.random.default_rng(1))
        x1, t1, c1 = make_example(sample, pre, aug, np.random.default_rng(1), region, frame)
        np.testing.assert_array_equal(c1, c0)
        np.testing.assert_array_equal(t1, t0)
        # resampled twice (area-averaged, then linear), so not bit-equal; but not moved: no sub-pixel shift
        assert np.abs(x1 - x0).mean() < 0.03
        blur = [cv2.GaussianBlur(x.mean(0).astype(np.float64), (0, 0), 1.0) for x in (x0, x1)]
        (dx, dy), _ = cv2.phaseCorrelate(*blur)
        assert abs(dx) < 0.15 and abs(dy) < 0.15, (dx, dy)


def test_exchange_compares_rows_exactly_across_three_ranks() -> None:
    """The weight check must hold for identical weights with any process count (a float32 mean of three
    equal rows need not equal the row), and must fire when one rank differs in one element."""
    import threading

    from fanzoo.training.parallel import Exchange

    ranks, length = 3, 1001
    shm = Exchange.create(ranks, length)
    barrier = threading.Barrier(ranks)
    weights = np.random.default_rng(0).standard_normal(length - 1).astype(np.float32) * 1e-3
    results: dict[int, tuple] = {}

    def rank_body(rank: int) -> None:
        exchange = Exchange(shm.name, rank, ranks, length, barrier)
        same = exchange.all_equal(weights)
        drifted = weights.copy()
        if rank == 2:
            drifted[500] = np.nextafter(drifted[500], np.float32(1))
        differs = exchange.all_equal(drifted)
        mean = exchange.average(np.full(length, rank, np.float32))
        results[rank] = (same, differs, mean)
        exchange.close()

    threads = [threading.Thread(target=rank_body, args=(r,)) for r in range(ranks)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        shm.close()
        shm.unlink()
    assert sorted(results) == [0, 1, 2]
    for same, differs, mean in results.values():
        assert same and not differs
        np.testing.assert_array_equal(mean, np.ones(length, np.float32))


@pytest.mark.parametrize(("cores", "batch", "expected"), [(1, 16, 1), (2, 16, 2), (16, 16, 2), (8, 32, 4), (3, 12, 1)])
def test_default_processes_keep_batchnorm_shares_large(monkeypatch: pytest.MonkeyPatch, cores: int, batch: int,
                                                      expected: int) -> None:
    import os

    from fanzoo.training.parallel import default_processes

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert default_processes(batch) == expected


SIGTERM_RUN = """
import sys
from pathlib import Path
from fanzoo.plugins import use_plugins
from fanzoo.training import train
from tests.test_training import tiny_config
from tests.tiny import plugins_with, tiny_spec

spec = tiny_spec()
with use_plugins(plugins_with(spec)):
    try:
        train(tiny_config(iterations=100_000, checkpoint_every=2, validate_every=1_000), Path(sys.argv[1]),
              Path(sys.argv[2]), progress=False, spec=spec, processes=2)
    except KeyboardInterrupt:
        sys.exit(130)
"""


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state, parent, ...), or [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    """A training helper (a spawned multiprocessing child) that is running, not a zombie."""
    fields = _stat(pid)
    try:
        return bool(fields) and fields[0] != "Z" and "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def _helpers(parent: int) -> list[int]:
    """The live training helpers whose parent is ``parent``."""
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if _stat(pid)[1:2] == [str(parent)] and _alive(pid)]


def test_sigterm_stops_every_training_process(subset: Path, tmp_path: Path) -> None:
    """kill (SIGTERM) ends a two-process run as Ctrl-C does: the helper exits too, at once, instead of waiting
    out the barrier's 15-minute timeout, and the last checkpoint is whole."""
    pytest.importorskip("nnabla")
    if not Path("/proc/self/stat").is_file():
        pytest.skip("needs /proc to find the helper process")
    import os
    import signal
    import subprocess
    import sys
    import time

    out = run_dir(tmp_path, "run")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_RUN, str(subset), str(out)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    helpers: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint" / "state.json").is_file():
            assert proc.poll() is None, proc.communicate()[0][-2000:]
            assert time.monotonic() < deadline, "no checkpoint in 5 minutes"
            time.sleep(0.2)
        helpers = _helpers(proc.pid)
        assert helpers, "the run should have a helper process"
        os.kill(proc.pid, signal.SIGTERM)
        # the helper shares the pipe: without the handler this times out while it waits on the barrier
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 130, output[-2000:]
        deadline = time.monotonic() + 60
        while any(_alive(pid) for pid in helpers):
            assert time.monotonic() < deadline, "the helper process outlived the run"
            time.sleep(0.2)
    finally:  # a failed run must not leave processes behind
        if proc.poll() is None:
            proc.kill()
        for pid in helpers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["iteration"] % 2 == 0 and state["processes"] == 2
