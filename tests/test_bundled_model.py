"""The bundled 2dfan-lite puts real landmarks on real faces, through every backend, from its packaged weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fanzoo.weights.store import bundled_weights
from fanzoo.weights.tags import lookup

MODEL = lookup("2dfan-lite")
SPEC, TAG = MODEL.spec, MODEL.weights
FACES = 6
# Errors in pixels of the network's 192 px input crop, where the outer eye corners are about 58 px apart
# on these faces: 3 px is about 5% NME (the model averages 4.2% on all 330 test faces), 4 px about 7%,
# still under the 8% line that counts as a failure.
MEAN_CROP_PIXELS = 3.0  # over the faces
MAX_CROP_PIXELS = 4.0  # on any one face


def crop_pixels_per_image_pixel(box: tuple[float, ...]) -> float:
    from fanzoo.preprocessing import box_to_center_scale, crop_to_image_matrix

    pre = SPEC.preprocessing
    center, scale = box_to_center_scale(box, pre)
    return 1.0 / crop_to_image_matrix(center, scale, pre.input_size, pre.scale_factor)[0, 0]


def mean_shape_errors(faces: list) -> list[float]:
    """The no-network baseline: the 300-W training mean shape placed in each face's box."""
    from fanzoo.decoding import heatmap_to_image
    from fanzoo.evaluation import gt_box
    from fanzoo.export.exporter import REFERENCE_FACES
    from fanzoo.metrics import point_errors
    from fanzoo.preprocessing import box_to_center_scale

    with np.load(REFERENCE_FACES) as ref:
        shape256 = ref["mean_shape"]
    errors = []
    for gt in faces:
        center, scale = box_to_center_scale(gt_box(gt).as_tuple(), SPEC.preprocessing)
        points = heatmap_to_image(shape256 / 4.0, center, scale, 64)
        errors.append(float(point_errors(points, gt).mean()))
    return errors


@pytest.fixture(scope="module")
def weights() -> Path:
    path = bundled_weights(TAG)
    # the package ships them: a missing file is a packaging defect, not a reason to skip
    assert path is not None and path.is_file(), f"no bundled weights at {path}"
    return path


@pytest.fixture(scope="module")
def exported_nnp(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nnabla")
    from fanzoo.export.exporter import export

    out = tmp_path_factory.mktemp("lite")
    export(SPEC.name, "nnp", out, weights=weights)
    return out


def predictor_on(backend: str, weights: Path, request: pytest.FixtureRequest):
    from fanzoo import api
    from fanzoo.predictor import Predictor

    if backend == "onnxruntime":  # the package's own export: what runs where NNabla cannot be installed
        return api.load_predictor(SPEC.name, backend, detector=None)
    if backend == "nnabla":
        return api.load_predictor(SPEC.name, backend, detector=None, artifacts=request.getfixturevalue("exported_nnp"))
    pytest.importorskip("nnabla")
    from fanzoo.weights.h5params import read_h5_params
    from fanzoo_nnabla.graph import GraphSession

    return Predictor(SPEC, GraphSession(SPEC, read_h5_params(weights)), subpixel=TAG.subpixel)


@pytest.mark.parametrize("backend", ["onnxruntime", "nnabla", "nnabla-graph"])
def test_bundled_model_lands_on_the_faces(backend: str, weights: Path, shared_data: Path,
                                          request: pytest.FixtureRequest) -> None:
    from fanzoo.evaluation import gt_box
    from fanzoo.imageio import read_image
    from fanzoo.metrics import point_errors
    from fanzoo.pts import annotated_images, read_pts

    predictor = predictor_on(backend, weights, request)
    errors, crop_errors, truths = [], [], []
    for image, pts in annotated_images(shared_data / "300w" / "testset" / "helen")[:FACES]:
        gt = read_pts(pts)
        box = gt_box(gt)
        face, = predictor.predict(read_image(image), [box])
        error = float(point_errors(face.landmarks, gt).mean())
        errors.append(error)
        crop_errors.append(error * crop_pixels_per_image_pixel(box.as_tuple()))
        truths.append(gt)
    # a few pixels of the network's own crop, on every face
    assert float(np.mean(crop_errors)) < MEAN_CROP_PIXELS, crop_errors
    assert max(crop_errors) < MAX_CROP_PIXELS, crop_errors
    # and far better than the mean face in the same box, which does not look at the image
    baseline = mean_shape_errors(truths)
    assert float(np.mean(errors)) < 0.5 * float(np.mean(baseline)), (errors, baseline)


def test_default_model_is_the_bundled_one(weights: Path) -> None:
    from fanzoo import api
    from fanzoo.weights.store import local_weights

    assert api.DEFAULT_MODEL == SPEC.name
    assert local_weights(TAG) == weights
    assert weights.stat().st_size < 20 * 2**20


def test_shipped_onnx_is_an_export_of_the_bundled_weights(weights: Path) -> None:
    """The package's ONNX file (for Pythons without NNabla) computes what NNabla computes from the .h5."""
    pytest.importorskip("nnabla")
    from fanzoo.artifacts import bundled_artifacts
    from fanzoo.export.manifest import read_manifest
    from fanzoo.export.reference import read_test_data_set, relative_error, test_data_sets
    from fanzoo.plugins import plugins
    from fanzoo.weights.h5params import read_h5_params
    from fanzoo.weights.store import sha256_file
    from fanzoo_nnabla.graph import GraphSession

    folder = bundled_artifacts(TAG)
    manifest = read_manifest(folder)
    entry = manifest.entry("onnx")
    assert manifest.weights_sha256 == sha256_file(weights), "re-export after changing the bundled weights"
    assert entry.sha256 == sha256_file(folder / entry.file)
    inputs, _ = read_test_data_set(test_data_sets(folder)[0])
    onnx = plugins().backend("onnxruntime").load(folder / entry.file).run(inputs)
    nnabla = GraphSession(SPEC, read_h5_params(weights)).run(inputs)
    name = manifest.outputs[0]["name"]
    assert relative_error(onnx[name], nnabla[name]) <= manifest.tolerance


def test_default_model_runs_without_an_export(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache uses the shipped ONNX file; other weights a user imports are their own tag."""
    from fanzoo.artifacts import bundled_artifacts, cache_folder, resolve_artifact
    from fanzoo.errors import ArtifactError
    from fanzoo.weights.h5params import read_h5_params, write_h5_params
    from fanzoo.weights.importer import import_file

    monkeypatch.setenv("FANZOO_HOME", str(tmp_path))
    assert resolve_artifact(MODEL, "onnx", auto_export=False).path == bundled_artifacts(TAG) / "model.onnx"
    other = {k: v * 1.01 if k.endswith("/W") else v for k, v in read_h5_params(weights).items()}
    write_h5_params(tmp_path / "other.h5", other)
    assert import_file(SPEC, tmp_path / "other.h5").model.name == "2dfan-lite.local"
    assert resolve_artifact(lookup("2dfan-lite"), "onnx", auto_export=False).path == bundled_artifacts(TAG) / "model.onnx"
    # the import bound the user's weights into their own artifact, with the architecture's decoding
    mine = resolve_artifact(lookup("2dfan-lite.local"), "onnx", auto_export=False)
    assert mine.path == cache_folder(lookup("2dfan-lite.local").weights) / "model.onnx"
    assert mine.manifest.made_by == "binding" and mine.manifest.subpixel == "gaussian"
    import_file(SPEC, tmp_path / "other.h5", tag="mine", bind_onnx=False)
    with pytest.raises(ArtifactError, match="2dfan-lite.mine has no onnx artifact"):
        resolve_artifact(lookup("2dfan-lite.mine"), "onnx", auto_export=False)
    # the bundled file itself, imported again, is the bundled tag's
    assert import_file(SPEC, weights).model.name == "2dfan-lite.300w"


def test_a_damaged_shipped_export_is_refused(weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from fanzoo import artifacts
    from fanzoo.errors import ArtifactError

    copy = tmp_path / "bundled" / SPEC.name
    shutil.copytree(artifacts.bundled_artifacts(TAG), copy)
    with open(copy / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(artifacts, "bundled_artifacts", lambda tag: copy)
    monkeypatch.setenv("FANZOO_HOME", str(tmp_path / "home"))
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        artifacts.resolve_artifact(MODEL, "onnx", auto_export=False)
