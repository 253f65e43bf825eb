"""fanzoo against the authors' face-alignment 1.5.0 (fixtures from tools/make_fixtures.py), without torch.

Two routes to the same weights: the plain NNabla graph (Python 3.10), and without NNabla on any Python,
the authors' own checkpoint files imported as a user would, bound into the shipped ONNX graphs and run
by ONNX Runtime. Where those files have not been made (FANZOO_PARITY_CHECKPOINTS unset), the same tensors
are imported from a .npz instead, so the binding is still checked; the CLI test needs the authors' files.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fanzoo.decoding import decode_heatmaps
from fanzoo.plugins import get_model
from fanzoo.predictor import Predictor
from fanzoo.preprocessing import box_to_center_scale, crop, to_network_input

from .parity import (
    CHECKPOINTS_ENV,
    TAG,
    authors_checkpoints,
    authors_file,
    fanzoo_home,
    fixture,
    graph_sessions,
    import_fixture_weights,
)

pytestmark = pytest.mark.slow
ROUTES = ["nnabla-graph", "onnxruntime"]


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    """A FANZOO_HOME per (model, source) with the fixture's weights imported and bound, made once."""
    homes: dict[tuple[str, str], Path] = {}

    def get(name: str, source: str) -> Path:
        if (name, source) not in homes:
            home = tmp_path_factory.mktemp(f"parity-{name}-{source}")
            import_fixture_weights(name, source, home)
            homes[name, source] = home
        return homes[name, source]

    return get


def predictor_for(route: str, name: str, flip: bool, imported) -> Predictor:
    if route == "nnabla-graph":
        fan, depth = graph_sessions(name)
        return Predictor(get_model(name), fan, depth, flip=flip, batch_size=4)
    from fanzoo.api import load_predictor

    source = "authors" if os.environ.get(CHECKPOINTS_ENV) else "npz"
    with fanzoo_home(imported(name, source)):
        return load_predictor(f"{name}.{TAG}", "onnxruntime", detector=None, flip=flip, batch_size=4)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", ["2dfan4", "3dfan4"])
def test_fan4_heatmaps_match_pytorch(name: str, route: str, imported) -> None:
    record = fixture(name)
    fan = predictor_for(route, name, False, imported).landmark_session
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


def assert_matches_authors(ours: np.ndarray, record: dict, flip: bool) -> None:
    theirs_float = record[f"float_xy_flip{int(flip)}"]
    theirs_int = record[f"landmarks_flip{int(flip)}"]
    # sub-pixel: within 0.01 px of the authors' coordinates before their int32 truncation ...
    assert np.abs(ours[..., :2] - theirs_float).max() <= 0.01
    # ... hence equal to theirs after it, except where a value sits within 0.01 px of an integer
    truncated = np.trunc(ours[..., :2])
    near_integer = np.abs(theirs_float - np.round(theirs_float)) < 0.01
    assert np.all((truncated == theirs_int[..., :2]) | near_integer)
    if ours.shape[-1] == 3:
        assert relative_error(ours[..., 2], theirs_int[..., 2]) <= 1e-3


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("name", ["2dfan4", "3dfan4"])
def test_pipeline_matches_get_landmarks_from_image(name: str, flip: bool, route: str, shared_data, imported) -> None:
    record = fixture(name)
    predictor = predictor_for(route, name, flip, imported)
    faces = predictor.predict_many(images_of(record, shared_data), [[b] for b in record["boxes"]])
    assert_matches_authors(np.stack([f[0].landmarks for f in faces]), record, flip)
    np.testing.assert_allclose(np.stack([f[0].landmark_scores for f in faces]), record[f"scores_flip{int(flip)}"],
                               rtol=1e-4, atol=1e-4 * np.abs(record[f"scores_flip{int(flip)}"]).max())


def test_cli_3d_from_the_authors_checkpoints(shared_data, tmp_path: Path, isolated_home: Path) -> None:
    """The user's way, from an empty FANZOO_HOME and without NNabla: import the authors' 2D-FAN-4, 3D-FAN-4 and
    ResNetDepth files, export 3D-FAN to ONNX, predict with given boxes; the authors' coordinates within
    0.01 px before their truncation, z within 1e-3."""
    from fanzoo.cli import cli, export, predict, weights  # noqa: F401

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    folder = authors_checkpoints()
    assert not any(isolated_home.iterdir())
    for arch in ("2dfan4", "3dfan4", "resnetdepth"):
        assert f"{arch}.local: imported" in run("weights", "import", arch, str(authors_file(folder, arch)))
    exported = tmp_path / "exported"
    out = run("export", "3dfan.local", "--format", "onnx", "--out", str(exported))
    assert "3dfan4.local" in out and "resnetdepth.local" in out
    record = fixture("3dfan4")
    ours = []
    for rel, box in zip(record["images"], record["boxes"]):
        doc = json.loads(run("predict", "--model", "3dfan.local", "--backend", "onnxruntime", "--artifacts",
                             str(exported), "--box", ",".join(str(float(v)) for v in box), "--json", "-",
                             str(shared_data / str(rel))))
        (face,) = doc["images"][0]["faces"]
        ours.append(face["landmarks"])
    # the JSON rounds to 0.001 px
    assert_matches_authors(np.array(ours), record, flip=False)


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
