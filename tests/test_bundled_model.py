"""The bundled 2dfan-lite puts real landmarks on real faces, through every backend, from its packaged weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fanzoo.plugins import get_model
from fanzoo.weights.store import bundled_weights

pytest.importorskip("nnabla")
SPEC = get_model("2dfan-lite")
FACES = 6
# mean point-to-point error in pixels on 300-W test faces of ~190 px; a random network is at ~40 px
MAX_MEAN_ERROR_PX = 6.0


@pytest.fixture(scope="module")
def weights() -> Path:
    path = bundled_weights(SPEC)
    if path is None or not path.is_file():
        pytest.skip(f"no bundled weights at {path} yet (train with `fanzoo train --model 2dfan-lite`)")
    return path


@pytest.fixture(scope="module")
def exported(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fanzoo.export.exporter import export_model

    out = tmp_path_factory.mktemp("lite")
    for fmt in ("onnx", "nnp"):
        export_model(SPEC, fmt, out / SPEC.name, weights=weights)
    return out


@pytest.mark.parametrize("backend", ["onnxruntime", "nnabla", "nnabla-graph"])
def test_bundled_model_lands_on_the_faces(backend: str, exported: Path, weights: Path, shared_data: Path) -> None:
    from fanzoo import api
    from fanzoo.evaluation import gt_box
    from fanzoo.graph import GraphSession
    from fanzoo.imageio import read_image
    from fanzoo.metrics import point_errors
    from fanzoo.predictor import Predictor
    from fanzoo.pts import annotated_images, read_pts
    from fanzoo.weights.h5params import read_h5_params

    if backend == "nnabla-graph":
        predictor = Predictor(SPEC, GraphSession(SPEC, read_h5_params(weights)))
    else:
        predictor = api.load_predictor(SPEC.name, backend, detector=None, artifacts=exported)
    errors = []
    for image, pts in annotated_images(shared_data / "300w" / "testset" / "helen")[:FACES]:
        gt = read_pts(pts)
        face, = predictor.predict(read_image(image), [gt_box(gt)])
        errors.append(point_errors(face.landmarks, gt).mean())
    assert float(np.mean(errors)) < MAX_MEAN_ERROR_PX, errors


def test_default_model_is_the_bundled_one(weights: Path) -> None:
    from fanzoo import api
    from fanzoo.weights.store import local_weights

    assert api.DEFAULT_MODEL == SPEC.name
    assert local_weights(SPEC) == weights
    assert weights.stat().st_size < 20 * 2**20
