"""Predictor and `fanzoo predict`: every backend, bad inputs per file, outputs, auto-export into the cache."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fanzoo.cli import cli
from fanzoo.plugins import get_model

from .conftest import HAS_NNABLA, ROOT, backends_here, needs_nnabla

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
HOPPER = ROOT / "examples" / "images" / "grace_hopper.jpg"


def invoke(*args: str) -> object:
    from fanzoo.cli import evaluate, export, info, predict, train, weights  # noqa: F401
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nnabla")  # exporting needs it; tests that do not export run without it
    from fanzoo.testing import export_test_artifacts
    # ONNX by filling the shipped graph where NNabla is absent; NNP needs NNabla
    return export_test_artifacts(tmp_path_factory.mktemp("exported"), ("2dfan1",),
                                 ("onnx", "nnp") if HAS_NNABLA else ("onnx",))


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    rgb = cv2.imread(str(ASTRONAUT))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image")
    (folder / "truncated.jpg").write_bytes(ASTRONAUT.read_bytes()[:2000])
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(rgb, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "deep16.png"), rgb.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "blank.png"), np.full((200, 300, 3), 127, np.uint8))  # no face
    cv2.imwrite(str(folder / "good.jpg"), rgb)
    return folder


@pytest.mark.parametrize("backend", backends_here())
def test_predict_json_and_outputs(backend: str, exported: Path, tmp_path: Path) -> None:
    out_json, out_img, pts = tmp_path / "r.json", tmp_path / "a.png", tmp_path / "pts"
    result = invoke("predict", "--model", "2dfan1", "--backend", backend, "--artifacts", str(exported),
                    "--json", str(out_json), "--output", str(out_img), "--pts", str(pts), str(ASTRONAUT))
    assert result.exit_code == 0, result.output
    doc = json.loads(out_json.read_text())
    assert doc["model"] == "2dfan1" and doc["dims"] == 2
    (image,) = doc["images"]
    assert image["error"] is None and image["width"] == 512 and len(image["faces"]) == 1
    face = image["faces"][0]
    assert np.array(face["landmarks"]).shape == (68, 2) and len(face["landmark_scores"]) == 68
    assert cv2.imread(str(out_img)).shape == (512, 512, 3)
    assert (pts / "astronaut.pts").is_file()


@needs_nnabla
def test_backends_agree(exported: Path) -> None:
    from fanzoo import api

    image = cv2.imread(str(ASTRONAUT))[:, :, ::-1].copy()
    faces = {b: api.load_predictor("2dfan1", b, artifacts=exported).predict(image) for b in ("onnxruntime", "nnabla")}
    a, b = faces["onnxruntime"][0], faces["nnabla"][0]
    assert np.abs(a.landmarks - b.landmarks).max() < 1e-6


def test_bad_files_do_not_stop_the_batch(exported: Path, bad_inputs: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "--model", "2dfan1", "--artifacts", str(exported), "--json", "-",
                                      str(bad_inputs), str(bad_inputs / "missing.jpg")], catch_exceptions=False)
    assert result.exit_code == 1
    stdout = result.stdout
    doc = json.loads(stdout)
    by_name = {Path(i["path"]).name: i for i in doc["images"]}
    for bad in ("empty.jpg", "text.jpg", "truncated.jpg", "missing.jpg"):
        assert by_name[bad]["error"], bad
    for good in ("grey.png", "rgba.png", "deep16.png", "good.jpg"):
        assert by_name[good]["error"] is None and len(by_name[good]["faces"]) == 1, good
    assert by_name["blank.png"]["faces"] == [] and by_name["blank.png"]["error"] is None
    assert "Traceback" not in result.output


def test_given_boxes(exported: Path, tmp_path: Path) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"astronaut.jpg": [[179, 83, 266, 170], [10, 10, 60, 60]]}))
    for args in (["--box", "179,83,266,170", "--box", "10,10,60,60"], ["--boxes-json", str(boxes)]):
        result = invoke("predict", "--model", "2dfan1", "--artifacts", str(exported), "--json", "-", *args,
                        str(ASTRONAUT))
        assert result.exit_code == 0
        faces = json.loads(result.stdout)["images"][0]["faces"]
        assert [f["box"] for f in faces] == [[179, 83, 266, 170], [10, 10, 60, 60]]


def cuda_here() -> bool:
    import onnxruntime
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.parametrize("args, code, message", [
    (["--model", "4dfan"], 2, "unknown model '4dfan'; known models:"),  # usage errors, as the README says
    (["--backend", "tensorflow"], 2, "unknown backend 'tensorflow'"),
    pytest.param(["--device", "cuda"], 1, "cannot run on cuda",
                 marks=pytest.mark.skipif(cuda_here(), reason="CUDA is available here: --device cuda runs")),
    (["--box", "1,2,3"], 2, "4 numbers"),
    (["--box", "5,5,1,1"], 2, "x2 > x1"),
    (["--device", "tpu"], 2, "Invalid value"),
])
def test_user_mistakes_are_one_line_errors(args: list, code: int, message: str, exported: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "--artifacts", str(exported), "--model", "2dfan1", *args,
                                      str(ASTRONAUT)])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_predictor_batches_images_together(exported: Path) -> None:
    from fanzoo import api

    predictor = api.load_predictor("2dfan1", artifacts=exported, batch_size=3)
    images = [cv2.imread(str(p))[:, :, ::-1].copy() for p in (ASTRONAUT, HOPPER, ASTRONAUT)]
    together = predictor.predict_many(images)
    for image, faces in zip(images, together):
        alone = predictor.predict(image)
        assert len(alone) == len(faces) == 1
        np.testing.assert_allclose(alone[0].landmarks, faces[0].landmarks, atol=1e-4)
    assert predictor.predict(np.full((100, 100, 3), 127, np.uint8)) == []


class _CountingSession:
    """A session that records the batch of every call and runs the real one."""

    def __init__(self, session) -> None:
        self.session, self.batches = session, []

    def __getattr__(self, name: str):
        return getattr(self.session, name)

    def run(self, feeds: dict) -> dict:
        self.batches.append(len(next(iter(feeds.values()))))
        return self.session.run(feeds)


def test_batch_size_defaults_to_the_models_measured_choice(exported: Path) -> None:
    """No batch size asked for: the registry's per-model default; asked for: that; nonsense: a clear error."""
    from fanzoo import api
    from fanzoo.errors import InputError
    from fanzoo.predictor import Predictor

    spec = get_model("2dfan1")
    assert spec.default_batch == 2 and get_model("2dfan-lite-v2").default_batch == 8
    image = cv2.imread(str(ASTRONAUT))[:, :, ::-1].copy()
    box = [[179.0, 83.0, 266.0, 170.0]]
    for asked, calls in ((None, [2, 2, 1]), (4, [4, 1]), (8, [5]), (np.int64(3), [3, 2])):
        predictor = api.load_predictor("2dfan1", artifacts=exported, detector=None, batch_size=asked)
        predictor.landmark_session = counting = _CountingSession(predictor.landmark_session)
        predictor.predict_many([image] * 5, [box] * 5)
        assert predictor.batch_size == (asked or spec.default_batch) and counting.batches == calls
    # the CLI passes no batch unless asked (the same default), and says so in its help
    result = invoke("predict", "--help")
    assert "the model's, measured" in " ".join(result.output.split())
    session = api.load_predictor("2dfan1", artifacts=exported, detector=None).landmark_session
    for bad in (0, -1, True, 2.5, "8"):
        with pytest.raises(InputError, match="batch_size must be a whole number"):
            Predictor(spec, session, batch_size=bad)


def test_flip_adds_mirrored_run(exported: Path) -> None:
    from fanzoo import api

    image = cv2.imread(str(ASTRONAUT))[:, :, ::-1].copy()
    plain = api.load_predictor("2dfan1", artifacts=exported).predict(image)[0]
    flipped = api.load_predictor("2dfan1", artifacts=exported, flip=True).predict(image)[0]
    assert not np.allclose(plain.landmark_scores, flipped.landmark_scores)


@pytest.mark.slow
def test_import_binds_once_and_again_on_new_weights(tmp_path: Path, isolated_home: Path) -> None:
    """Import fills the shipped graph (no NNabla), predict uses that artifact, new weights are bound anew,
    and removing the artifact makes the next predict bind it again."""
    import shutil

    from fanzoo.artifacts import cache_folder
    from fanzoo.weights.params import write_npz
    from fanzoo.weights.synthetic import seeded_params
    from fanzoo.weights.tags import lookup

    spec = get_model("2dfan1")
    weights = tmp_path / "w.npz"
    write_npz(weights, seeded_params(spec, 1))
    imported = invoke("weights", "import", "2dfan1", str(weights))
    assert imported.exit_code == 0 and "ONNX artifact:" in imported.output
    folder = cache_folder(lookup("2dfan1.local").weights)
    first_hash = json.loads((folder / "MANIFEST.json").read_text())["artifacts"]["onnx"]["sha256"]
    first = CliRunner().invoke(cli, ["predict", "-m", "2dfan1", "-b", "onnxruntime", "--json", "-", str(ASTRONAUT)])
    assert first.exit_code == 0 and "binding" not in first.stderr and "exporting" not in first.stderr
    assert json.loads(first.stdout)["images"][0]["faces"]
    if HAS_NNABLA:
        nnabla_run = CliRunner().invoke(cli, ["predict", "-m", "2dfan1", "-b", "nnabla", str(ASTRONAUT)])
        assert nnabla_run.exit_code == 0 and "exporting 2dfan1.local to nnp" in nnabla_run.output
        assert set(json.loads((folder / "MANIFEST.json").read_text())["artifacts"]) == {"onnx", "nnp"}
    write_npz(weights, seeded_params(spec, 2))
    assert invoke("weights", "import", "2dfan1", str(weights)).exit_code == 0
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["artifacts"]["onnx"]["sha256"] != first_hash and set(manifest["artifacts"]) == {"onnx"}
    shutil.rmtree(folder)
    rebuilt = CliRunner().invoke(cli, ["predict", "-m", "2dfan1", "-b", "onnxruntime", str(ASTRONAUT)])
    assert rebuilt.exit_code == 0 and "binding 2dfan1.local" in rebuilt.output


def test_example_application(exported: Path, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for p in (ASTRONAUT, HOPPER):
        (images / p.name).write_bytes(p.read_bytes())
    (images / "broken.jpg").write_text("nope")
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "align_folder.py"), str(exported), "2dfan1",
                          str(images), str(out)], capture_output=True, text=True)
    assert run.returncode == 1 and "skipped broken.jpg" in run.stderr
    results = json.loads(out.read_text())
    assert sorted(results) == ["astronaut.jpg", "grace_hopper.jpg"]
    assert all(len(faces) == 1 for faces in results.values())
