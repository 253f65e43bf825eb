"""The library a user imports: fanzoo.load_predictor, predict on paths and arrays of any layout, predict_paths."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import fanzoo
from fanzoo.cli import cli

from .conftest import ROOT

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
HOPPER = ROOT / "examples" / "images" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def predictor() -> fanzoo.Predictor:
    # the bundled model through its shipped ONNX export: works offline and without NNabla
    return fanzoo.load_predictor()


def test_import_is_light() -> None:
    code = "import sys, fanzoo; print(sorted(m for m in ('cv2', 'numpy', 'onnxruntime', 'nnabla') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_fanzoo() -> None:
    run = subprocess.run([sys.executable, "-m", "fanzoo", "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and fanzoo.__version__ in run.stdout


def test_every_image_layout_gives_the_same_face(predictor: fanzoo.Predictor) -> None:
    bgr = cv2.imread(str(ASTRONAUT))
    reference = predictor.predict(ASTRONAUT)
    assert len(reference) == 1 and reference[0].landmarks.shape == (68, 2)
    for image, channels in ((str(ASTRONAUT), "rgb"), (bgr[:, :, ::-1], "rgb"), (bgr, "bgr"),
                            (cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA), "rgb"), (cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), "bgr")):
        (face,) = predictor.predict(image, channels=channels)
        np.testing.assert_allclose(face.landmarks, reference[0].landmarks, atol=1e-6)
    # grey loses the colour, not the face: the landmarks stay within a couple of pixels
    (grey,) = predictor.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert np.abs(grey.landmarks - reference[0].landmarks).mean() < 2.0
    (single,) = predictor.predict(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None])
    np.testing.assert_allclose(single.landmarks, grey.landmarks)


def test_bgr_taken_for_rgb_is_a_different_answer(predictor: fanzoo.Predictor) -> None:
    # why channels="bgr" exists: the network sees swapped colours, and the points move
    bgr = cv2.imread(str(ASTRONAUT))
    (right,) = predictor.predict(bgr, channels="bgr")
    (wrong,) = predictor.predict(bgr)
    assert np.abs(right.landmarks - wrong.landmarks).max() > 0.01


@pytest.mark.parametrize("image, channels, message", [
    (np.zeros((10, 10, 3), np.float32), "rgb", "must be uint8"),
    (np.zeros((10, 10, 2), np.uint8), "rgb", "got shape (10, 10, 2)"),
    (np.zeros((0, 10, 3), np.uint8), "rgb", "empty"),
    (np.zeros((10, 10, 3), np.uint8), "hsv", "'rgb' or 'bgr'"),
    ([[1, 2], [3, 4]], "rgb", "path or a numpy array"),
])
def test_bad_arrays_are_input_errors(predictor: fanzoo.Predictor, image: object, channels: str, message: str) -> None:
    with pytest.raises(fanzoo.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        predictor.predict(image, channels=channels)


def test_boxes_are_checked(predictor: fanzoo.Predictor) -> None:
    for bad in ([[1, 2, 3, 4, 5]], [[10, 10, 5, 5]], [["a", 1, 2, 3]]):
        with pytest.raises(fanzoo.InputError):
            predictor.predict(ASTRONAUT, bad)


def test_predict_paths_yields_every_file_in_order(predictor: fanzoo.Predictor, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.jpg").write_bytes(ASTRONAUT.read_bytes())
    (tmp_path / "b" / "c.jpg").write_bytes(HOPPER.read_bytes())
    (tmp_path / "b" / "broken.png").write_text("not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    flat = list(predictor.predict_paths(tmp_path))
    assert [r.path.name for r in flat] == ["a.jpg"]
    deep = list(predictor.predict_paths([tmp_path, tmp_path / "missing.jpg"], recursive=True))
    assert [r.path.name for r in deep] == ["a.jpg", "broken.png", "c.jpg", "missing.jpg"]
    by_name = {r.path.name: r for r in deep}
    assert by_name["broken.png"].error and by_name["missing.jpg"].error
    assert by_name["a.jpg"].ok and len(by_name["a.jpg"].faces) == 1 and by_name["a.jpg"].width == 512
    np.testing.assert_allclose(by_name["c.jpg"].faces[0].landmarks, predictor.predict(HOPPER)[0].landmarks)


def test_predict_paths_with_given_boxes(predictor: fanzoo.Predictor) -> None:
    box = [179, 83, 266, 170]
    (result,) = predictor.predict_paths([ASTRONAUT], boxes=lambda path: [box])
    assert [list(f.box) for f in result.faces] == [box]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_cli_output_that_cannot_be_written_is_refused_before_work(tmp_path: Path) -> None:
    result = invoke("predict", str(ASTRONAUT), "-o", str(tmp_path / "x.gif"))
    assert result.exit_code == 2 and ".gif" in result.output
    assert not (tmp_path / "x.gif").exists()
    result = invoke("predict", str(ASTRONAUT), str(HOPPER), "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "give a folder" in result.output


def test_cli_recursive_and_hint(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jpg").write_bytes(ASTRONAUT.read_bytes())
    result = invoke("predict", str(tmp_path))
    assert result.exit_code == 2 and "-r" in result.output
    result = invoke("predict", "-r", str(tmp_path))
    assert result.exit_code == 0 and "a.jpg: 1 face" in result.output and "were not saved" in result.output


def test_cli_json_streams_a_valid_document(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    result = invoke("predict", str(ASTRONAUT), str(HOPPER), str(tmp_path / "missing.jpg"), "--json", str(target))
    assert result.exit_code == 1
    doc = json.loads(target.read_text())
    assert [Path(i["path"]).name for i in doc["images"]] == ["astronaut.jpg", "grace_hopper.jpg", "missing.jpg"]
    assert doc["images"][2]["error"] and len(doc["images"][0]["faces"]) == 1
    # the results name the weights that made them, not only the architecture
    assert (doc["model"], doc["weights"]) == (fanzoo.api.DEFAULT_MODEL, f"{fanzoo.api.DEFAULT_MODEL}.300w")


def test_predictor_names_its_weight_tag(predictor: fanzoo.Predictor) -> None:
    assert predictor.weights == f"{fanzoo.api.DEFAULT_MODEL}.300w"


@pytest.mark.parametrize("device, code, message", [
    ("gpu", 2, "cuda:N"), ("cuda:x", 2, "cuda:N"), ("cuda:1", 1, "cannot run on cuda"),
])
def test_cli_device_by_index(device: str, code: int, message: str) -> None:
    # no GPU on the machines that test fanzoo: cuda:1 must be refused by the backend, never run on the CPU
    result = invoke("predict", "--device", device, str(ASTRONAUT))
    if device == "cuda:1" and "cannot run on cuda" not in result.output and result.exit_code == 0:
        pytest.skip("a CUDA device is available here")
    assert result.exit_code == code and message in result.output
