"""Every bundled model puts real landmarks on real faces, through every backend, from its packaged weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fanzoo.builtin_models import builtin_tags
from fanzoo.weights.store import bundled_weights
from fanzoo.weights.tags import TaggedModel, lookup

BUNDLED = [tag.name for tag in builtin_tags() if tag.bundled]
FACES = 6
# Inter-ocular NME on the first 6 HELEN test faces, each framed from its landmarks as the model's training
# boxes frame a face: the bundled models average about 4% on all 330 test faces, and 8% is the line that
# counts a face as failed.
MEAN_NME = 0.055  # over the faces
MAX_NME = 0.08  # on any one face


@pytest.fixture(scope="module", params=BUNDLED)
def model(request: pytest.FixtureRequest) -> TaggedModel:
    return lookup(request.param)


def mean_shape_errors(model: TaggedModel, boxes: list, faces: list) -> list[float]:
    """The no-network baseline: the 300-W training mean shape placed in each face's box."""
    from fanzoo.decoding import heatmap_to_image
    from fanzoo.export.exporter import REFERENCE_FACES
    from fanzoo.metrics import point_errors
    from fanzoo.preprocessing import box_to_center_scale

    with np.load(REFERENCE_FACES) as ref:
        shape256 = ref["mean_shape"]
    errors = []
    for box, gt in zip(boxes, faces):
        center, scale = box_to_center_scale(box.as_tuple(), model.spec.preprocessing)
        points = heatmap_to_image(shape256 / 4.0, center, scale, 64)
        errors.append(float(point_errors(points, gt).mean()))
    return errors


@pytest.fixture(scope="module")
def weights(model: TaggedModel) -> Path:
    path = bundled_weights(model.weights)
    # the package ships them: a missing file is a packaging defect, not a reason to skip
    assert path is not None and path.is_file(), f"no bundled weights at {path}"
    return path


@pytest.fixture(scope="module")
def exported_nnp(model: TaggedModel, weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nnabla")
    from fanzoo.export.exporter import export

    out = tmp_path_factory.mktemp("lite")
    export(model.spec.name, "nnp", out, weights=weights)
    return out


def predictor_on(model: TaggedModel, backend: str, weights: Path, request: pytest.FixtureRequest):
    from fanzoo import api
    from fanzoo.predictor import Predictor

    if backend == "onnxruntime":  # the package's own export: what runs where NNabla cannot be installed
        return api.load_predictor(model.spec.name, backend, detector=None)
    if backend == "nnabla":
        return api.load_predictor(model.spec.name, backend, detector=None,
                                  artifacts=request.getfixturevalue("exported_nnp"))
    pytest.importorskip("nnabla")
    from fanzoo.weights.h5params import read_h5_params
    from fanzoo_nnabla.graph import GraphSession

    return Predictor(model.spec, GraphSession(model.spec, read_h5_params(weights)), subpixel=model.weights.subpixel)


@pytest.mark.parametrize("backend", ["onnxruntime", "nnabla", "nnabla-graph"])
def test_bundled_model_lands_on_the_faces(model: TaggedModel, backend: str, weights: Path, shared_data: Path,
                                          request: pytest.FixtureRequest) -> None:
    from fanzoo.evaluation import truth_box
    from fanzoo.imageio import read_image
    from fanzoo.metrics import interocular, point_errors
    from fanzoo.pts import annotated_images, read_pts

    predictor = predictor_on(model, backend, weights, request)
    errors, boxes, truths = [], [], []
    for image, pts in annotated_images(shared_data / "300w" / "testset" / "helen")[:FACES]:
        gt = read_pts(pts)
        box = truth_box(gt, model.spec.box_framing)
        face, = predictor.predict(read_image(image), [box])
        errors.append(float(point_errors(face.landmarks, gt).mean()))
        boxes.append(box)
        truths.append(gt)
    nmes = [error / interocular(gt) for error, gt in zip(errors, truths)]
    # a few percent of the eye distance, on every face
    assert float(np.mean(nmes)) < MEAN_NME, nmes
    assert max(nmes) < MAX_NME, nmes
    # and far better than the mean face in the same box, which does not look at the image
    baseline = mean_shape_errors(model, boxes, truths)
    assert float(np.mean(errors)) < 0.5 * float(np.mean(baseline)), (errors, baseline)


def test_default_model_is_bundled() -> None:
    """fanzoo works offline out of the box: the default model's default tag ships in the package."""
    from fanzoo import api
    from fanzoo.weights.store import local_weights

    model = lookup(api.DEFAULT_MODEL)
    assert model.weights.name in BUNDLED
    assert local_weights(model.weights) == bundled_weights(model.weights)
    # the detector it runs behind is the one its training boxes came from
    assert model.spec.box_framing == api.DEFAULT_DETECTOR


def test_bundled_weights_are_small(weights: Path) -> None:
    assert weights.stat().st_size < 20 * 2**20


def test_shipped_onnx_is_an_export_of_the_bundled_weights(model: TaggedModel, weights: Path) -> None:
    """The package's ONNX file (for Pythons without NNabla) computes what NNabla computes from the .h5."""
    pytest.importorskip("nnabla")
    from fanzoo.artifacts import bundled_artifacts
    from fanzoo.export.manifest import read_manifest
    from fanzoo.export.reference import read_test_data_set, relative_error, test_data_sets
    from fanzoo.plugins import plugins
    from fanzoo.weights.h5params import read_h5_params
    from fanzoo.weights.store import sha256_file
    from fanzoo_nnabla.graph import GraphSession

    folder = bundled_artifacts(model.weights)
    manifest = read_manifest(folder)
    entry = manifest.entry("onnx")
    assert manifest.weights_sha256 == sha256_file(weights), "re-export after changing the bundled weights"
    assert entry.sha256 == sha256_file(folder / entry.file)
    inputs, _ = read_test_data_set(test_data_sets(folder)[0])
    onnx = plugins().backend("onnxruntime").load(folder / entry.file).run(inputs)
    nnabla = GraphSession(model.spec, read_h5_params(weights)).run(inputs)
    name = manifest.outputs[0]["name"]
    assert relative_error(onnx[name], nnabla[name]) <= manifest.tolerance


def test_bundled_model_runs_without_an_export(model: TaggedModel, weights: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache uses the shipped ONNX file; other weights a user imports are their own tag."""
    from fanzoo.artifacts import bundled_artifacts, cache_folder, resolve_artifact
    from fanzoo.errors import ArtifactError
    from fanzoo.weights.h5params import read_h5_params, write_h5_params
    from fanzoo.weights.importer import import_file

    name, shipped = model.spec.name, bundled_artifacts(model.weights) / "model.onnx"
    monkeypatch.setenv("FANZOO_HOME", str(tmp_path))
    assert resolve_artifact(model, "onnx", auto_export=False).path == shipped
    other = {k: v * 1.01 if k.endswith("/W") else v for k, v in read_h5_params(weights).items()}
    write_h5_params(tmp_path / "other.h5", other)
    assert import_file(model.spec, tmp_path / "other.h5").model.name == f"{name}.local"
    assert resolve_artifact(lookup(name), "onnx", auto_export=False).path == shipped
    # the import bound the user's weights into their own artifact, with the architecture's decoding
    mine = resolve_artifact(lookup(f"{name}.local"), "onnx", auto_export=False)
    assert mine.path == cache_folder(lookup(f"{name}.local").weights) / "model.onnx"
    assert mine.manifest.made_by == "binding" and mine.manifest.subpixel == "gaussian"
    import_file(model.spec, tmp_path / "other.h5", tag="mine", bind_onnx=False)
    with pytest.raises(ArtifactError, match=f"{name}.mine has no onnx artifact"):
        resolve_artifact(lookup(f"{name}.mine"), "onnx", auto_export=False)
    # the bundled file itself, imported again, is the bundled tag's
    assert import_file(model.spec, weights).model.name == model.weights.name


def test_a_damaged_shipped_export_is_refused(model: TaggedModel, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from fanzoo import artifacts
    from fanzoo.errors import ArtifactError

    copy = tmp_path / "bundled" / model.spec.name
    shutil.copytree(artifacts.bundled_artifacts(model.weights), copy)
    with open(copy / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    monkeypatch.setattr(artifacts, "bundled_artifacts", lambda tag: copy)
    monkeypatch.setenv("FANZOO_HOME", str(tmp_path / "home"))
    with pytest.raises(ArtifactError, match="does not match the sha256"):
        artifacts.resolve_artifact(model, "onnx", auto_export=False)
