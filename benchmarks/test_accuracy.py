"""Accuracy: agreement between backends, NME/AUC on 300-W test faces, and dlib's 68-point predictor as baseline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT, has_trained_weights, model_params
from .test_latency import MODELS, QUICK_MODELS, sessions

SMOKE_IMAGES = 8
CED_PLOT = ROOT / "benchmarks" / "ced.png"
_CURVES: dict[str, np.ndarray] = {}


@pytest.mark.parametrize("model", [m if m in QUICK_MODELS else pytest.param(m, marks=pytest.mark.full) for m in MODELS])
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
        landmarks, _ = sessions(model, runtime, "fp32")
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


@pytest.mark.parametrize("model, precision, runtime", [
    ("2dfan-lite-v2", "fp32", "onnxruntime"), ("2dfan-lite-v2", "int8", "onnxruntime"), ("2dfan-lite", "fp32", "onnxruntime"),
    ("2dfan-lite", "int8", "onnxruntime"), ("2dfan4", "fp32", "onnxruntime"), ("2dfan4", "int8", "onnxruntime"),
    ("3dfan4", "fp32", "onnxruntime"),
    # OpenVINO runs the same int8 file with kernels of its own: its accuracy is measured, not inferred from ORT's
    ("2dfan-lite-v2", "int8", "openvino"), ("2dfan-lite", "int8", "openvino")])
def test_nme_on_300w_test(benchmark, model: str, precision: str, runtime: str, data_dir: Path, smoke: bool,
                          tmp_path: Path) -> None:
    """`fanzoo evaluate` on the HELEN test faces (dlib HOG boxes), at each precision: the cost of int8 in NME."""
    from fanzoo.detection.dlib_hog import DlibHogDetector
    from fanzoo.evaluation import evaluate
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.weights.tags import lookup

    if not has_trained_weights(model):
        pytest.skip(f"no trained weights for {model} here (fanzoo weights fetch/import {model})")
    if runtime == "openvino":
        pytest.importorskip("fanzoo_openvino", reason="the OpenVINO plugin is not installed")
    model_params(model)
    landmarks, depth = sessions(model, runtime, precision)
    predictor = Predictor(get_model(model), landmarks, depth, detector=DlibHogDetector(),
                          subpixel=lookup(model).weights.subpixel)
    folder = evaluation_images(data_dir, smoke, tmp_path)
    benchmark.group = "accuracy: 300-W test (helen)"
    summary, scores = benchmark.pedantic(lambda: evaluate(predictor, [folder], backend_name=runtime), rounds=1)
    benchmark.extra_info.update(kind="nme", model=model, runtime=runtime, precision=precision,
                                batch=predictor.batch_size,
                                images=summary.images, nme_eye=summary.nme_eye_mean, nme_box=summary.nme_box_mean,
                                auc_008=summary.auc_008, failure_008=summary.failure_rate_008,
                                gt_boxes=summary.gt_boxes_used)
    if runtime == "onnxruntime":  # the plot keeps one curve a model and precision
        _CURVES[model if precision == "fp32" else f"{model} {precision}"] = np.array([s.nme_eye for s in scores])
    assert summary.images > 0 and np.isfinite(summary.nme_eye_mean)


@pytest.mark.int8
@pytest.mark.parametrize("model", ["2dfan-lite", "2dfan4"])
def test_int8_landmark_shift(benchmark, model: str, data_dir: Path, smoke: bool) -> None:
    """int8 against fp32 on real face crops (300-W training faces the calibration did not use): how far the
    landmarks move, in heatmap pixels. Without trained weights (FAN-4 here) this is the seeded, BatchNorm-calibrated
    network: it says how faithfully int8 computes that network, not what it costs a trained one in NME."""
    from fanzoo.decoding import decode_heatmaps
    from fanzoo.export.calibration import HELD_OUT_FACES, calibration_set
    from fanzoo.plugins import get_model
    from fanzoo.weights.tags import lookup

    spec = get_model(model)
    held = calibration_set(data_dir / "300w" / "trainset", spec.preprocessing, 3, box_framing=spec.box_framing,
                           held_out=8 if smoke else HELD_OUT_FACES).held_out
    outputs = {}
    for precision in ("fp32", "int8"):
        session, _ = sessions(model, "onnxruntime", precision)
        outputs[precision] = np.concatenate([session.run({session.input_names[0]: held[i:i + 8]})[session.output_names[0]]
                                             for i in range(0, len(held), 8)])
    subpixel = lookup(model).weights.subpixel
    a, b = (decode_heatmaps(outputs[p], subpixel)[0] for p in ("fp32", "int8"))
    moved = np.linalg.norm(a.astype(np.float64) - b, axis=-1)
    benchmark.group = "accuracy: int8 against fp32"
    benchmark.extra_info.update(kind="int8-shift", model=model, runtime="onnxruntime", precision="int8", batch=len(held),
                                faces=len(held), trained=has_trained_weights(model),
                                shift_mean_heatmap_px=float(moved.mean()), shift_max_heatmap_px=float(moved.max()),
                                shift_p99_heatmap_px=float(np.percentile(moved, 99)),
                                moved_over_1px=float((moved > 1.0).mean()),
                                heatmap_size=spec.preprocessing.heatmap_size,
                                rel_heatmap_error=float(np.abs(outputs["int8"] - outputs["fp32"]).max()
                                                        / np.abs(outputs["fp32"]).max()))
    benchmark.pedantic(lambda: None, rounds=1)  # the numbers are the result; the timing means nothing
    assert np.isfinite(moved).all()


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
            box, _ = choose_box(detector.detect(rgb), gt, "dlib-hog")  # dlib's predictor learnt HOG boxes
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


@pytest.mark.full  # why the registry keeps no layer in fp32: a design record, four quantizations of HELEN scoring
def test_int8_keep_fp32_choice(benchmark, data_dir: Path, smoke: bool, tmp_path: Path) -> None:
    """Which layers int8 should leave in fp32: 2dfan-lite quantized four ways, each scored on the HELEN test faces
    (the same dlib HOG boxes for all), against fp32. The registry's int8_keep_fp32 follows from this table."""
    from fanzoo.detection.dlib_hog import DlibHogDetector
    from fanzoo.evaluation import choose_box
    from fanzoo.export.manifest import read_manifest
    from fanzoo.export.quantize import INT8_KEY, quantize_folder
    from fanzoo.imageio import read_image
    from fanzoo.metrics import nme
    from fanzoo.plugins import get_model, plugins
    from fanzoo.predictor import Predictor
    from fanzoo.pts import annotated_images, read_pts
    from fanzoo.weights.tags import lookup

    from .conftest import THREADS, artifact_dir

    spec = get_model("2dfan-lite")
    source = artifact_dir("2dfan-lite", "onnx")
    detector = DlibHogDetector()
    faces = []
    for image_path, pts_path in annotated_images(evaluation_images(data_dir, smoke, tmp_path)):
        rgb, gt = read_image(image_path), read_pts(pts_path)
        faces.append((rgb, gt, choose_box(detector.detect(rgb), gt, spec.box_framing)[0]))
    backend = plugins().backend("onnxruntime")

    def score(path: Path) -> float:
        predictor = Predictor(spec, backend.load(path, threads=THREADS), subpixel=lookup("2dfan-lite").weights.subpixel)
        return float(np.mean([nme(predictor.predict(rgb, [box])[0].landmarks, gt) for rgb, gt, box in faces]))

    fp32 = score(source / read_manifest(source).entry("onnx").file)
    rows = {}

    def run() -> None:
        for keep in ((), ("head",), ("stem",), ("stem", "head")):
            dest = tmp_path / ("-".join(keep) or "none") / spec.name
            manifest = quantize_folder(spec, source, dest, keep_fp32=keep)
            rows["+".join(keep) or "nothing"] = 100 * (score(dest / manifest.entry(INT8_KEY).file) - fp32)
    benchmark.pedantic(run, rounds=1)
    benchmark.group = "accuracy: what int8 keeps in fp32"
    benchmark.extra_info.update(kind="int8-keep", model=spec.name, runtime="onnxruntime", precision="int8",
                                batch=1, faces=len(faces), nme_fp32=100 * fp32, nme_change_points=rows,
                                registry=list(spec.int8_keep_fp32))
    assert all(np.isfinite(v) for v in rows.values())
