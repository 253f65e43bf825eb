"""int8 artifacts: quantized from an fp32 folder, recorded in the MANIFEST, checked, written atomically; --precision."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fanzoo.api import DEFAULT_MODEL
from fanzoo.errors import ArtifactError, BackendUnavailableError, ExportError, InputError
from fanzoo.export import quantize, reference
from fanzoo.export.calibration import calibration_from_inputs, calibration_set, default_calibration_dir
from fanzoo.export.manifest import read_manifest
from fanzoo.export.reference import read_test_data_set, relative_error
from fanzoo.plugins import get_model
from fanzoo.precision import artifact_key, check_backend_precision, is_compute_precision, load_options

from .conftest import ROOT

pytest.importorskip("onnxruntime.quantization")
BUNDLED = ROOT / "fanzoo" / "bundled" / "2dfan-lite"
ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
LITE = get_model("2dfan-lite")


def reference_calibration(folder: Path = BUNDLED):
    inputs, _ = read_test_data_set(reference.test_data_sets(folder)[0])
    return calibration_from_inputs(next(iter(inputs.values())), "bundled reference faces")


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled 2dfan-lite, quantized into a folder of its own (calibrated on its reference faces)."""
    dest = tmp_path_factory.mktemp("int8") / "2dfan-lite"
    quantize.quantize_folder(LITE, BUNDLED, dest, calibration=reference_calibration())
    return dest


def test_manifest_records_precision_calibration_and_error(quantized: Path) -> None:
    manifest = read_manifest(quantized)
    fp32, int8 = manifest.entry("onnx"), manifest.entry(artifact_key("onnx", "int8"))
    assert fp32 == read_manifest(BUNDLED).entry("onnx")  # the fp32 artifact comes along unchanged
    assert (quantized / fp32.file).read_bytes() == (BUNDLED / fp32.file).read_bytes()
    assert int8.precision == "int8" and int8.file == "model.int8.onnx"
    assert int8.tolerance == pytest.approx(max(quantize.INT8_MIN_TOLERANCE, 2 * int8.max_relative_error), abs=1e-3)
    from fanzoo.weights.store import sha256_file
    assert sha256_file(quantized / int8.file) == int8.sha256
    q = int8.quantization
    assert q["source_sha256"] == fp32.sha256
    assert q["calibration"]["faces"] == 2 and "not held out" in q["calibration"]["selection"]
    assert set(q["error_vs_fp32_held_out"]) >= {"max_relative_error", "landmark_shift_mean_heatmap_px",
                                                 "landmark_shift_max_heatmap_px"}
    assert q["kept_fp32"] == {}  # the registry keeps nothing for 2dfan-lite (measured: nothing helps)
    assert manifest.tolerance_of("onnx-int8") == int8.tolerance <= quantize.INT8_MAX_ERROR
    assert manifest.tolerance_of("onnx") == manifest.tolerance


def test_an_int8_file_of_an_older_recipe_is_made_again(quantized: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from fanzoo.artifacts import _usable

    key = artifact_key("onnx", "int8")
    current = read_manifest(quantized)
    assert current.entry(key).quantization["recipe"] == quantize.INT8_RECIPE
    assert _usable(quantized, key, current.tag, current.weights_sha256) == current and not caplog.records
    older = tmp_path / "2dfan-lite"
    shutil.copytree(quantized, older)
    doc = json.loads((older / "MANIFEST.json").read_text())
    del doc["artifacts"][key]["quantization"]["recipe"]  # as files were written before recipes were numbered
    (older / "MANIFEST.json").write_text(json.dumps(doc))
    # fanzoo's cache (a tag and weights to match): not used, so it is quantized again, and said
    assert _usable(older, key, current.tag, current.weights_sha256) is None
    assert "recipe 1, not the current" in caplog.text and "making it again" in caplog.text
    caplog.clear()
    # a folder the user chose: used, with a warning; the fp32 file of the same folder is not affected
    assert _usable(older, key, None, None) is not None and "used as it is" in caplog.text
    caplog.clear()
    assert _usable(older, "onnx", current.tag, current.weights_sha256) is not None and not caplog.records


def test_int8_model_is_quantized_and_within_its_tolerance(quantized: Path) -> None:
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(quantized / "model.int8.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    weights = {i.name: i for i in model.graph.initializer}
    int8_weights = [w for w in weights.values() if w.data_type == onnx.TensorProto.INT8 and len(w.dims) == 4]
    assert int8_weights, "conv weights are stored as int8"
    session = ort.InferenceSession(str(quantized / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    inputs, outputs = read_test_data_set(reference.test_data_sets(quantized)[0])
    got = session.run(None, inputs)[0]
    error = relative_error(got, next(iter(outputs.values())))
    # really quantized (not fp32), yet within the tolerance it declares
    assert 1e-4 < error <= read_manifest(quantized).tolerance_of("onnx-int8")


def test_keep_fp32_roles_are_found_in_the_graph(tmp_path: Path) -> None:
    import onnx

    found = quantize.roles(onnx.load(str(BUNDLED / "model.onnx")))
    model = onnx.load(str(BUNDLED / "model.onnx"))
    by_output = {o: n for n in model.graph.node for o in n.output}
    assert len(found["stem"]) == 1 and len(found["head"]) == 1
    dest = tmp_path / "2dfan-lite"
    manifest = quantize.quantize_folder(LITE, BUNDLED, dest, calibration=reference_calibration(), keep_fp32=("head",))
    kept = manifest.entry("onnx-int8").quantization["kept_fp32"]["head"]
    q = onnx.load(str(dest / "model.int8.onnx"))
    head = next(n for n in q.graph.node if n.name == kept[0])
    weight = next(i for i in q.graph.initializer if i.name == head.input[1])
    assert head.op_type == "Conv" and weight.data_type == onnx.TensorProto.FLOAT  # left in fp32
    assert by_output[model.graph.output[0].name].op_type == "Conv"


def test_failed_check_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "2dfan-lite"
    shutil.copytree(BUNDLED, dest)
    before = sorted(p.name for p in dest.iterdir())
    monkeypatch.setattr(quantize, "INT8_MAX_ERROR", 1e-9)
    with pytest.raises(ExportError, match="more than int8 may"):
        quantize.quantize_folder(LITE, dest, calibration=reference_calibration(dest))
    assert sorted(p.name for p in dest.iterdir()) == before
    assert "onnx-int8" not in read_manifest(dest).artifacts
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder is left"


def test_damaged_or_old_fp32_is_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(BUNDLED, damaged)
    with open(damaged / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ArtifactError, match="sha256"):
        quantize.quantize_folder(LITE, damaged, calibration=reference_calibration())
    old = tmp_path / "old"
    shutil.copytree(BUNDLED, old)
    data = json.loads((old / "MANIFEST.json").read_text())
    data["artifacts"]["onnx"]["opset"] = 11
    (old / "MANIFEST.json").write_text(json.dumps(data))
    with pytest.raises(ExportError, match="opset 13"):
        quantize.quantize_folder(LITE, old, calibration=reference_calibration())
    with pytest.raises(ExportError, match="unknown layer roles"):
        quantize.quantize_folder(LITE, BUNDLED, tmp_path / "x", calibration=reference_calibration(), keep_fp32=("tail",))


def test_calibration_faces_come_from_annotated_images(shared_data: Path) -> None:
    cal = calibration_set(shared_data / "300w" / "trainset", LITE.preprocessing, faces=8, held_out=4)
    assert cal.inputs.shape == (8, 3, 192, 192) and cal.held_out.shape == (4, 3, 192, 192)
    assert cal.inputs.dtype == np.float32 and 0.0 <= cal.inputs.min() and cal.inputs.max() <= 1.0
    assert cal.description["faces"] == 8 and cal.description["images_in_folder"] == 2012
    assert not any(np.array_equal(a, b) for a in cal.inputs for b in cal.held_out)  # held out: other faces
    depth = calibration_set(shared_data / "300w" / "trainset", get_model("2dfan4").preprocessing, channels=71,
                            faces=8, held_out=1)
    maps = depth.inputs[:, 3:]
    assert depth.inputs.shape == (8, 71, 256, 256) and maps.max() == pytest.approx(1.0)  # 68 landmark maps


def test_calibration_crops_are_framed_as_the_model_sees_faces(shared_data: Path) -> None:
    """A model trained on CenterFace's boxes is calibrated on crops cut from CenterFace-framed boxes, the crops
    it sees at inference, not from the landmarks' tight box (for 2dfan-lite-v2 that crop is 17% larger)."""
    from fanzoo.evaluation import gt_box, truth_box
    from fanzoo.imageio import read_image
    from fanzoo.preprocessing import box_to_center_scale, crop, to_network_input
    from fanzoo.pts import annotated_images, read_pts

    spec = get_model("2dfan-lite-v2")
    folder = shared_data / "300w" / "trainset"
    cal = calibration_set(folder, spec.preprocessing, faces=8, held_out=1, box_framing=spec.box_framing)
    assert "centerface framing" in cal.description["boxes"]
    image, pts = annotated_images(folder)[0]  # the first calibration face
    points, pixels = read_pts(pts), read_image(image)

    def network_input(box) -> np.ndarray:
        center, scale = box_to_center_scale(box.as_tuple(), spec.preprocessing)
        return to_network_input([crop(pixels, center, scale, spec.preprocessing)])[0]

    np.testing.assert_array_equal(cal.inputs[0], network_input(truth_box(points, "centerface")))
    assert not np.array_equal(cal.inputs[0], network_input(gt_box(points)))


def test_calibration_skips_bad_files_and_needs_enough(shared_data: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    pairs = sorted((shared_data / "300w" / "testset" / "helen").glob("*.jpg"))[:14]
    for jpg in pairs:
        (tmp_path / jpg.name).symlink_to(jpg)
        (tmp_path / jpg.with_suffix(".pts").name).symlink_to(jpg.with_suffix(".pts"))
    (tmp_path / pairs[0].name).unlink()
    (tmp_path / pairs[0].name).write_bytes(b"not a jpeg")
    with caplog.at_level("WARNING"):
        cal = calibration_set(tmp_path, LITE.preprocessing, faces=10, held_out=2)
    assert "skipping" in caplog.text and len(cal.inputs) == 9  # the first file is always a calibration face
    with pytest.raises(InputError, match="needs 20"):
        calibration_set(tmp_path, LITE.preprocessing, faces=16, held_out=4)
    with pytest.raises(InputError, match="not found"):
        calibration_set(tmp_path / "missing", LITE.preprocessing)


def test_default_calibration_dir_follows_fanzoo_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANZOO_DATA", str(tmp_path))
    assert default_calibration_dir() is None
    (tmp_path / "300w" / "trainset").mkdir(parents=True)
    assert default_calibration_dir() == tmp_path / "300w" / "trainset"


def test_precision_names() -> None:
    assert artifact_key("onnx") == "onnx" and artifact_key("onnx", "int8") == "onnx-int8"
    assert artifact_key("onnx", "bf16") == "onnx"  # a compute precision runs the fp32 file
    assert is_compute_precision("bf16") and not is_compute_precision("int8")
    assert load_options("bf16") == {"precision": "bf16"} and load_options("int8") == {}
    with pytest.raises(InputError, match="unknown precision"):
        artifact_key("onnx", "fp8")
    from fanzoo.plugins import plugins
    with pytest.raises(BackendUnavailableError, match="does not run bf16"):
        check_backend_precision(plugins().backend("onnxruntime"), "bf16")


def invoke(*args: str):
    from fanzoo.cli import cli, evaluate, export, info, predict  # noqa: F401
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_predict_with_an_int8_artifact(quantized: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = invoke("predict", "--model", "2dfan-lite", "--precision", "int8", "--artifacts", str(quantized.parent),
                    "--box", "179,83,266,170", "--json", str(out), str(ASTRONAUT))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["precision"] == "int8" and len(doc["images"][0]["faces"][0]["landmarks"]) == 68
    fp32 = tmp_path / "f.json"
    assert invoke("predict", "--box", "179,83,266,170", "--json", str(fp32), str(ASTRONAUT)).exit_code == 0
    a = np.array(doc["images"][0]["faces"][0]["landmarks"])
    b = np.array(json.loads(fp32.read_text())["images"][0]["faces"][0]["landmarks"])
    assert json.loads(fp32.read_text())["precision"] == "fp32"
    assert 0 < np.abs(a - b).max() < 5.0  # another computation, the same face


def test_precision_errors_are_one_line(tmp_path: Path) -> None:
    result = invoke("predict", "--precision", "bf16", "--box", "179,83,266,170", str(ASTRONAUT))
    assert result.exit_code != 0 and "does not run bf16" in result.output
    result = invoke("predict", "--precision", "int8", "--artifacts", str(tmp_path), "--box", "179,83,266,170",
                    str(ASTRONAUT))
    assert result.exit_code != 0 and "--precision int8" in result.output and "Traceback" not in result.output


def test_predict_int8_quantizes_once_into_the_cache(shared_data: Path, isolated_home: Path, tmp_path: Path) -> None:
    args = ["predict", "--precision", "int8", "--box", "179,83,266,170", "--json", str(tmp_path / "r.json"),
            str(ASTRONAUT)]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    tag = f"{DEFAULT_MODEL}.300w"  # the bundled default's
    assert f"quantizing {tag} to int8 once" in first.output
    manifest = read_manifest(isolated_home / "artifacts" / tag)
    calibration = manifest.entry("onnx-int8").quantization["calibration"]
    assert calibration["faces"] == 64 and calibration["folder"].endswith("trainset")
    second = invoke(*args)
    assert second.exit_code == 0 and "quantizing" not in second.output
