"""int8 artifacts: ONNX Runtime static quantization (QDQ, per-channel int8 weights) of an fp32 ONNX artifact.

Works from any complete fp32 folder (NNabla export or binding): calibrates on real face crops, keeps the
layers that measurably hurt accuracy in fp32, checks the result against the folder's reference tensors
within the int8 tolerance, measures its error against fp32 on held-out faces, and writes ``model.int8.onnx``
beside a copy of the fp32 artifact, with both in the MANIFEST.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_dir
from ..errors import ArtifactError, ExportError
from ..registry import ModelSpec, Preprocessing
from .calibration import DEFAULT_FACES, CalibrationSet, calibration_set, default_calibration_dir
from .manifest import ArtifactEntry, Manifest, read_manifest
from .reference import read_test_data_set, relative_error, test_data_sets

log = logging.getLogger(__name__)

INT8_FILE = "model.int8.onnx"
INT8_KEY = "onnx-int8"
# An int8 file declares its own tolerance against the reference tensors (max |int8 - reference| / max |reference|,
# the measure every artifact uses): twice the error measured here, so that another backend's int8 arithmetic
# (its rounding, fused requantization) fits, and at least INT8_MIN_TOLERANCE. Past INT8_MAX_ERROR the quantized
# network no longer computes the same function (a broken quantization, or a network that does not survive int8),
# and nothing is written. Measured with full-range weights on an AVX-512 VNNI CPU: 2dfan-lite 0.07, FAN-4 with
# seeded weights 0.30, ResNetDepth 0.47; with the 7-bit weights used now, on an AVX2 CPU: 2dfan-lite 0.08,
# FAN-4 (seeded) 0.08.
INT8_MARGIN = 2.0
INT8_MIN_TOLERANCE = 0.05
INT8_MAX_ERROR = 0.5
ROLES = ("stem", "head")  # layers that can be kept in fp32, found in the graph (names differ between exports)
CALIBRATION_BATCH = 8
# How an int8 file is made, numbered: a file from an older recipe is remade, not reused (fanzoo's cache keys
# on the weights and the fp32 file only). 1: calibration crops cut from the landmarks' tight box (files carry
# no number); 2: crops framed as the model's training boxes frame a face, 7-bit weights, MinMax (2026-12-02).
INT8_RECIPE = 2


def recipe_of(entry: ArtifactEntry) -> int:
    """The recipe an int8 entry was made by (1: made before recipes were recorded)."""
    recipe = (entry.quantization or {}).get("recipe", 1)
    return recipe if isinstance(recipe, int) and not isinstance(recipe, bool) else 1


def is_current(entry: ArtifactEntry) -> bool:
    """False for an int8 entry made by an older recipe: it is to be quantized again (fp32 entries are current)."""
    return entry.precision != "int8" or recipe_of(entry) == INT8_RECIPE


def roles(model: Any) -> dict[str, list[str]]:
    """Node names by role: ``stem`` consumes the network input (with weights), ``head`` writes a network output."""
    weights = {i.name for i in model.graph.initializer}
    inputs = {i.name for i in model.graph.input} - weights
    outputs = {o.name for o in model.graph.output}
    return {"stem": [n.name for n in model.graph.node if set(n.input) & inputs and set(n.input) & weights],
            "head": [n.name for n in model.graph.node if set(n.output) & outputs]}


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantizer warns on the root logger once per BatchNormalization (scale vectors it does not
    quantize per channel); keep those out of a user's terminal and log them at debug level instead."""
    def demote(record: logging.LogRecord) -> bool:
        if "onnxruntime" in record.pathname and record.levelno < logging.ERROR:
            log.debug("onnxruntime.quantization: %s", record.getMessage())
            return False
        return True

    root = logging.getLogger()
    root.addFilter(demote)
    try:
        yield
    finally:
        root.removeFilter(demote)


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _chunks(x: np.ndarray, batch: int | None) -> list[np.ndarray]:
    """Batches of a fixed size (the last one padded by repetition) for a fixed-batch artifact, else batches of 8."""
    size = batch or CALIBRATION_BATCH
    out = []
    for start in range(0, len(x), size):
        part = x[start:start + size]
        out.append(part if batch is None or len(part) == batch else np.resize(part, (batch, *part.shape[1:])))
    return out


def _run(session, x: np.ndarray, batch: int | None) -> np.ndarray:
    name = session.get_inputs()[0].name
    outs = [session.run(None, {name: c})[0] for c in _chunks(x, batch)]
    return np.concatenate(outs)[:len(x)]


def _prepare(source: Path, work: Path) -> Path:
    """Name every node (the quantizer excludes nodes by name) and run ONNX Runtime's pre-processing."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(source))
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    named, prepared = work / "named.onnx", work / "prepared.onnx"
    onnx.save(model, str(named))
    # the symbolic shape pass fails on these graphs (it cannot follow NNabla's Resize scales); ONNX's own
    # shape inference and the graph optimisations still run
    quant_pre_process(str(named), str(prepared), skip_symbolic_shape=True)
    return prepared


def _error_against_fp32(task: str, subpixel: str | None, fp32: np.ndarray, int8: np.ndarray) -> dict[str, float]:
    from ..decoding import decode_heatmaps

    error = {"max_relative_error": relative_error(int8, fp32)}
    if task == "landmarks" and subpixel is not None:
        a, b = decode_heatmaps(fp32, subpixel)[0], decode_heatmaps(int8, subpixel)[0]
        moved = np.linalg.norm(a.astype(np.float64) - b, axis=-1)
        error.update(landmark_shift_mean_heatmap_px=float(moved.mean()), landmark_shift_max_heatmap_px=float(moved.max()),
                     landmark_shift_p99_heatmap_px=float(np.percentile(moved, 99)),
                     landmarks_moved_over_1px=float((moved > 1.0).mean()))
    else:
        error["mean_abs_error_relative"] = float(np.abs(int8 - fp32).mean() / (np.abs(fp32).max() or 1.0))
    return error


def _carry(src: Path, dst: Path, link: bool) -> None:
    """Bring a file or folder of the fp32 artifact along: hard links when the folder is rewritten in place (no
    second copy of a 95 MB model), copies into another folder (never a link into, say, the package's files)."""
    def one(a: str | Path, b: str | Path) -> None:
        try:
            if not link:
                raise OSError("copy")
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.is_dir():
        shutil.copytree(src, dst, copy_function=one)
    else:
        one(src, dst)


def quantize_folder(spec: ModelSpec, source: Path, dest: Path | None = None,
                    calibration: Path | CalibrationSet | None = None, faces: int = DEFAULT_FACES,
                    keep_fp32: Sequence[str] | None = None) -> Manifest:
    """Quantize the fp32 ONNX artifact in ``source`` and write it, with the fp32 files, into ``dest`` (default:
    ``source``). ``calibration`` is a folder of annotated faces (default: the 300-W training faces) or a ready
    CalibrationSet; ``keep_fp32`` lists the roles (``stem``, ``head``) left in fp32, default: the model's own."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    from ..weights.store import sha256_file

    source, dest = Path(source), Path(dest or source)
    manifest = read_manifest(source)
    fp32_entry = manifest.entry("onnx")
    fp32_path = source / fp32_entry.file
    if sha256_file(fp32_path) != fp32_entry.sha256:
        raise ArtifactError(f"{fp32_path} does not match the sha256 in its manifest; export it again")
    if (fp32_entry.opset or 0) < 13:
        raise ExportError(f"int8 needs an fp32 artifact of opset 13 (per-channel QDQ); {source} has opset "
                          f"{fp32_entry.opset}: export it again with --opset 13")
    keep = tuple(spec.int8_keep_fp32 if keep_fp32 is None else keep_fp32)
    unknown = sorted(set(keep) - set(ROLES))
    if unknown:
        raise ExportError(f"unknown layer roles {unknown}; choose from {', '.join(ROLES)}")
    pre = manifest.crop() or spec.preprocessing
    if isinstance(calibration, CalibrationSet):
        cal = calibration
    else:
        folder = calibration or default_calibration_dir()
        if folder is None:
            raise ExportError(f"int8 calibration needs real annotated faces (images with iBUG .pts files beside them, "
                              f"e.g. 300-W's trainset): run `fanzoo export {spec.name} --format onnx --precision int8 "
                              "--calibration DIR`, or set FANZOO_DATA to a folder that holds 300w/trainset")
        channels = int(manifest.inputs[0]["shape"][1])
        # the depth network has no preprocessing of its own: its crops are the landmark model's
        size_pre = pre or Preprocessing(input_size=int(manifest.inputs[0]["shape"][-1]))
        # faces framed as the model's training boxes frame them (the depth network has no framing: landmark boxes)
        cal = calibration_set(folder, size_pre, channels, faces, box_framing=spec.box_framing)
    batch = None if fp32_entry.batch == "dynamic" else int(fp32_entry.batch)
    import onnx

    with tempfile.TemporaryDirectory(prefix="fanzoo-int8-") as work_dir:
        work = Path(work_dir)
        prepared = _prepare(fp32_path, work)
        found = roles(onnx.load(str(prepared), load_external_data=False))
        excluded = [name for role in keep for name in found[role]]
        input_name = manifest.inputs[0]["name"]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._batches = iter(_chunks(cal.inputs, batch))

            def get_next(self) -> dict[str, np.ndarray] | None:
                chunk = next(self._batches, None)
                return None if chunk is None else {input_name: chunk}

        out = work / INT8_FILE
        log.info("quantizing %s on %d calibration faces (kept in fp32: %s)", spec.name, len(cal.inputs), keep or "none")
        with _quiet_quantizer():
            # unsigned activations and signed weights: the pairing VNNI and AMX run fastest (U8S8). The weights
            # keep 7 bits (reduce_range): x86 CPUs without VNNI (AVX2, AVX-512F) multiply U8S8 with VPMADDUBSW,
            # whose int16 pair sums saturate on full-range weights; on such a CPU the full-range file was off by
            # 0.72 (relative) on the coverage FAN, while the file must give the same numbers on every CPU.
            quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.MinMax)
        int8_session, fp32_session = _session(out), _session(fp32_path)
        held_error = _error_against_fp32(manifest.task, manifest.subpixel, _run(fp32_session, cal.held_out, batch),
                                         _run(int8_session, cal.held_out, batch))
        reference_error = 0.0
        for data_set in test_data_sets(source):  # one input and one output each, as the exporter writes them
            inputs, outputs = read_test_data_set(data_set)
            got = _run(int8_session, next(iter(inputs.values())), batch)
            reference_error = max(reference_error, relative_error(got, next(iter(outputs.values()))))
        if not reference_error <= INT8_MAX_ERROR:
            raise ExportError(f"{spec.name} int8 differs from the reference tensors by {reference_error:.3f} (relative), "
                              f"more than int8 may ({INT8_MAX_ERROR}); it was not written")
        tolerance = round(max(INT8_MIN_TOLERANCE, INT8_MARGIN * reference_error), 3)
        entry = ArtifactEntry("onnx", INT8_FILE, sha256_file(out), fp32_entry.opset, fp32_entry.batch, reference_error,
                              precision="int8", tolerance=tolerance, quantization={
                                  "method": "onnxruntime quantize_static: QDQ, MinMax calibration, uint8 activations, "
                                            "per-channel int8 weights in a 7-bit range (no saturation without VNNI)",
                                  "recipe": INT8_RECIPE,
                                  "source_sha256": fp32_entry.sha256,
                                  "calibration": dict(cal.description),
                                  "kept_fp32": {role: found[role] for role in keep},
                                  "error_vs_fp32_held_out": held_error,
                              })
        in_place = dest.resolve() == source.resolve()
        with atomic_dir(dest) as tmp:
            for other in manifest.artifacts.values():
                if other.file != INT8_FILE and (source / other.file).is_file():
                    _carry(source / other.file, tmp / other.file, in_place)
            for data_set in test_data_sets(source):
                _carry(data_set, tmp / data_set.name, in_place)
            shutil.move(str(out), tmp / INT8_FILE)
            artifacts = {k: v for k, v in manifest.artifacts.items() if k != INT8_KEY}
            new = replace(manifest, artifacts={**artifacts, INT8_KEY: entry})
            new.write(tmp)
    log.info("wrote %s int8 (kept in fp32: %s; error against fp32 on %d held-out faces: %s)", spec.name,
             ", ".join(keep) or "nothing", len(cal.held_out), held_error)
    return new


__all__ = ["quantize_folder", "roles", "recipe_of", "is_current", "INT8_FILE", "INT8_KEY", "INT8_MAX_ERROR", "INT8_RECIPE"]
