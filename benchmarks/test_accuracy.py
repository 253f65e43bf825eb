"""Accuracy: agreement between backends, NME/AUC on 300-W test faces, and dlib's 68-point predictor as baseline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT, has_trained_weights, model_params
from .test_latency import MODELS, sessions

SMOKE_IMAGES = 8
CED_PLOT = ROOT / "benchmarks" / "ced.png"
_CURVES: dict[str, np.ndarray] = {}


@pytest.mark.parametrize("model", MODELS)
def test_backend_agreement(benchmark, model: str, face_crops: np.ndarray) -> None:
    """Max heatmap difference and landmark deviation between ONNX Runtime, NNabla (NNP) and the graph."""
    import cv2

    from fanzoo.decoding import decode_heatmaps
    from fanzoo.plugins import get_model
    from fanzoo.preprocessing import to_network_input
    from fanzoo.weights.tags import lookup

    spec = get_model(model)
    size = spec.inputs[0].shape[-1]
    crops = face_crops[:2]
    if crops.shape[1] != size:
        crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    x = to_network_input(list(crops))
    outputs = {}
    for runtime in ("nnabla-graph", "onnxruntime", "nnabla"):
        landmarks, _ = sessions(model, runtime)
        outputs[runtime] = landmarks.run({landmarks.input_names[0]: x})[landmarks.output_names[0]]
    ref = outputs["nnabla-graph"]
    stride = spec.preprocessing.heatmap_stride
    info = {"model": model, "kind": "agreement", "runtime": "all", "batch": 2}
    for runtime in ("onnxruntime", "nnabla"):
        diff = float(np.abs(outputs[runtime] - ref).max())
        moved = np.abs(decode_heatmaps(outputs[runtime])[0] - decode_heatmaps(ref)[0]).max() * stride
        info[f"{runtime}_max_abs_diff"] = diff
        info[f"{runtime}_rel_diff"] = diff / float(np.abs(ref).max())
        info[f"{runtime}_landmark_shift_crop_px"] = float(moved)
        assert info[f"{runtime}_rel_diff"] <= lookup(model).weights.tolerance
    benchmark.group = "accuracy: backend agreement"
    benchmark.extra_info.update(info)
    benchmark.pedantic(lambda: None, rounds=1)  # the numbers are the result; the timing means nothing


def evaluation_images(data_dir: Path, smoke: bool, tmp_path: Path) -> Path:
    folder = data_dir / "300w" / "testset" / "helen"
    if not smoke:
        return folder
    subset = tmp_path / "helen_subset"
    subset.mkdir()
    for jpg in sorted(folder.glob("*.jpg"))[:SMOKE_IMAGES]:
        (subset / jpg.name).symlink_to(jpg)
        (subset / jpg.with_suffix(".pts").name).symlink_to(jpg.with_suffix(".pts"))
    return subset


@pytest.mark.parametrize("model", ["2dfan-lite", "2dfan4", "3dfan4"])
def test_nme_on_300w_test(benchmark, model: str, data_dir: Path, smoke: bool, tmp_path: Path) -> None:
    from fanzoo.detection.dlib_hog import DlibHogDetector
    from fanzoo.evaluation import evaluate
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.weights.tags import lookup

    if not has_trained_weights(model):
        pytest.skip(f"no trained weights for {model} here (fanzoo weights fetch/import {model})")
    model_params(model)
    landmarks, depth = sessions(model, "onnxruntime")
    predictor = Predictor(get_model(model), landmarks, depth, detector=DlibHogDetector(),
                          subpixel=lookup(model).weights.subpixel)
    folder = evaluation_images(data_dir, smoke, tmp_path)
    benchmark.group = "accuracy: 300-W test (helen)"
    summary, scores = benchmark.pedantic(lambda: evaluate(predictor, [folder], backend_name="onnxruntime"), rounds=1)
    benchmark.extra_info.update(kind="nme", model=model, runtime="onnxruntime", batch=1, images=summary.images,
                                nme_eye=summary.nme_eye_mean, nme_box=summary.nme_box_mean, auc_008=summary.auc_008,
                                failure_008=summary.failure_rate_008, gt_boxes=summary.gt_boxes_used)
    _CURVES[model] = np.array([s.nme_eye for s in scores])
    assert summary.images > 0 and np.isfinite(summary.nme_eye_mean)


def dlib_predictor_path() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    return path if path.is_file() else None


def test_dlib_baseline(benchmark, data_dir: Path, smoke: bool, tmp_path: Path) -> None:
    """dlib's ERT 68-point predictor on the same detector boxes. It was trained on 300-W, most of this
    test set included, so its numbers are optimistic."""
    import dlib

    from fanzoo.detection.dlib_hog import DlibHogDetector
    from fanzoo.evaluation import choose_box
    from fanzoo.imageio import read_image
    from fanzoo.metrics import auc, failure_rate, nme
    from fanzoo.pts import annotated_images, read_pts

    path = dlib_predictor_path()
    if path is None:
        pytest.skip("face_recognition_models (dlib's 68-point model file) is not installed")
    shape_predictor = dlib.shape_predictor(str(path))
    detector = DlibHogDetector()
    folder = evaluation_images(data_dir, smoke, tmp_path)

    def run() -> np.ndarray:
        errors = []
        for image_path, pts_path in annotated_images(folder):
            gt, rgb = read_pts(pts_path), read_image(image_path)
            box, _ = choose_box(detector.detect(rgb), gt)
            shape = shape_predictor(rgb, dlib.rectangle(*(int(round(v)) for v in box.as_tuple())))
            pred = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            errors.append(nme(pred, gt))
        return np.array(errors)

    benchmark.group = "accuracy: 300-W test (helen)"
    errors = benchmark.pedantic(run, rounds=1)
    benchmark.extra_info.update(kind="nme", model="dlib-68 (baseline)", runtime="dlib", batch=1, images=len(errors),
                                nme_eye=float(errors.mean()), auc_008=auc(errors), failure_008=failure_rate(errors))
    _CURVES["dlib-68 (baseline)"] = errors
    if not smoke and len(_CURVES) > 0:
        from fanzoo.evaluation import plot_ced
        plot_ced(CED_PLOT, dict(_CURVES))
