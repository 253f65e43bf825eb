"""Make the coverage models' artifacts from the NNabla definitions (needs NNabla; Python 3.10).

Each folder gets ``model.onnx``, ``model.nnp``, ``test_data_set_0`` (real face crops and NNabla's outputs)
and a MANIFEST, validated like any export: ONNX Runtime and NNabla reproduce the graph at batch 2 and 1.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_dir
from ..errors import ExportError
from ..export.graph_passes import optimize
from ..export.manifest import ArtifactEntry, Manifest, tensor_specs
from ..export.onnx_convert import BATCH_DIM, DEFAULT_OPSET, check_float32, nnp_to_onnx_model
from ..export.reference import REFERENCE_FACES, relative_error, write_test_data_set
from .coverage import DEPTH_LANDMARKS, SEED, CoverageModel


def coverage_inputs(model: CoverageModel) -> np.ndarray:
    """The bundled real face crops at the model's size; for the depth model, plus gaussian landmark maps
    drawn at points of the 300-W mean shape."""
    import cv2

    from ..depth_input import landmark_maps
    from ..preprocessing import to_network_input

    spec = model.spec
    size = spec.inputs[0].shape[-1]
    assert isinstance(size, int)
    with np.load(REFERENCE_FACES) as ref:
        crops, mean_shape = ref["crops"], ref["mean_shape"]
    batch = to_network_input([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    if spec.task == "depth":
        maps = landmark_maps(mean_shape[list(DEPTH_LANDMARKS)] * (size / crops.shape[1]), size)
        batch = np.concatenate([batch, np.repeat(maps[None], len(batch), axis=0)], axis=1)
    return batch


def validate(model: CoverageModel, fmt: str, artifact: Path, inputs: np.ndarray, reference: np.ndarray) -> float:
    """The worst relative error of the artifact against NNabla, at the full batch and at batch 1, run by the
    reference backend of its format; more than the tolerance is an ExportError."""
    from ..backend import load_session
    from ..plugins import plugins

    session = load_session(plugins().backend({"onnx": "onnxruntime", "nnp": "nnabla"}[fmt]), artifact, "cpu", None)
    feed, fetch = model.spec.inputs[0].name, model.spec.outputs[0].name
    errors = [relative_error(session.run({feed: inputs})[fetch], reference)]
    errors += [relative_error(session.run({feed: inputs[i:i + 1]})[fetch], reference[i:i + 1]) for i in range(len(inputs))]
    if not max(errors) <= model.tolerance:
        raise ExportError(f"{model.name} {fmt}: {max(errors):.2e} against NNabla, more than {model.tolerance:.0e}")
    return max(errors)


def make_coverage_artifact(model: CoverageModel, folder: Path, opset: int = DEFAULT_OPSET) -> Manifest:
    """Write one coverage model's folder atomically; returns its manifest."""
    import onnx

    from ..export.nnp import save_nnp
    from ..graph import assign, build, calibrate_batchnorm, expected_shapes
    from ..weights.store import sha256_file
    from ..weights.synthetic import synthetic_params

    spec = model.spec
    inputs = coverage_inputs(model)
    params = calibrate_batchnorm(spec, synthetic_params(expected_shapes(spec), SEED), inputs)
    net = build(spec, len(inputs))
    assign(net, params, f"random:{SEED}")
    reference = net.forward(inputs)
    entries = {}
    with atomic_dir(folder) as tmp:
        save_nnp(net, tmp / "model.nnp")
        proto = nnp_to_onnx_model(tmp / "model.nnp", opset, dynamic_batch=True)
        passes = optimize(proto)  # as every exported artifact is
        check_float32(proto)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp / "model.onnx"))
        for fmt, file, fmt_opset in (("onnx", "model.onnx", opset), ("nnp", "model.nnp", None)):
            error = validate(model, fmt, tmp / file, inputs, reference)
            entries[fmt] = ArtifactEntry(fmt, file, sha256_file(tmp / file), fmt_opset, "dynamic", error,
                                         graph_passes=passes if fmt == "onnx" else None)
        write_test_data_set(tmp / "test_data_set_0", [(spec.inputs[0].name, inputs)],
                            [(spec.outputs[0].name, reference)])
        manifest = Manifest(
            model=spec.name, tag=f"seed-{SEED}", task=spec.task, inputs=tensor_specs(spec.inputs),
            outputs=tensor_specs(spec.outputs), license="seeded random weights (tests)", made_by="nnabla-export",
            dynamic_axes={t.name: {"0": BATCH_DIM} for t in (*spec.inputs, *spec.outputs)},
            tolerance=model.tolerance, weights_sha256=f"random:{SEED}", fanzoo_version=__version__,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), artifacts=entries,
        )
        manifest.write(tmp)
    return manifest
