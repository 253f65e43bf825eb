"""`fanzoo export`: registry graph + weights -> validated NNP / ONNX artifacts in one folder per model."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_dir
from ..errors import ExportError, FanzooError
from ..plugins import plugins
from ..registry import ModelSpec
from .manifest import ArtifactEntry, Manifest, read_manifest
from .onnx_convert import BATCH_DIM, DEFAULT_OPSET, check_float32, check_opset, nnp_to_onnx_model
from .reference import relative_error, write_test_data_set
from .sources import WeightsJob, plan

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "nnp": "model.nnp"}
PREFERRED_BACKEND = {"onnx": "onnxruntime", "nnp": "nnabla"}
REFERENCE_FACES = Path(__file__).resolve().parents[1] / "bundled" / "reference_faces.npz"


def reference_inputs(spec: ModelSpec) -> np.ndarray:
    """Real face crops (bundled, public domain) shaped for ``spec``; for the depth network, crops plus
    landmark maps drawn at the 300-W mean shape."""
    import cv2

    from ..depth_input import landmark_maps
    from ..preprocessing import to_network_input

    with np.load(REFERENCE_FACES) as ref:
        crops, mean_shape = ref["crops"], ref["mean_shape"]
    size = spec.inputs[0].shape[-1]
    assert isinstance(size, int)
    if crops.shape[1] != size:
        crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    batch = to_network_input(list(crops))
    if spec.task == "depth":
        maps = landmark_maps(mean_shape * (size / 256.0), size)
        batch = np.concatenate([batch, np.repeat(maps[None], len(batch), axis=0)], axis=1)
    return batch


def _validation_backend(fmt: str):
    backends = [b for b in plugins().backends.values() if b.artifact_format == fmt]
    if not backends:
        raise ExportError(f"no installed backend loads {fmt} artifacts, so the export cannot be validated; "
                          f"install fanzoo-{PREFERRED_BACKEND[fmt]}")
    backends.sort(key=lambda b: b.name != PREFERRED_BACKEND[fmt])
    return backends[0]


def validate(spec: ModelSpec, fmt: str, artifact: Path, inputs: np.ndarray, reference: np.ndarray,
             tolerance: float) -> float:
    """Run the artifact at the full reference batch and at batch 1; return the worst relative error."""
    session = _validation_backend(fmt).load(artifact, device="cpu")
    feed, fetch = spec.inputs[0].name, spec.outputs[0].name
    errors = [relative_error(session.run({feed: inputs})[fetch], reference)]
    errors += [relative_error(session.run({feed: inputs[i:i + 1]})[fetch], reference[i:i + 1])
               for i in range(len(inputs))]
    worst = max(errors)
    if not worst <= tolerance:
        raise ExportError(f"{spec.name} {fmt} artifact differs from the NNabla graph by {worst:.2e} (relative), "
                          f"more than the declared tolerance {tolerance:.0e}; it was not written")
    return worst


def tensor_specs(specs: Sequence) -> list[dict]:
    return [{"name": t.name, "shape": [BATCH_DIM if d is None else d for d in t.shape], "dtype": t.dtype,
             "description": t.description} for t in specs]


def export_model(job: WeightsJob, fmt: str, folder: Path, opset: int = DEFAULT_OPSET,
                 batch: int | None = None, depth_tag: str | None = None) -> Manifest:
    """Write (or rewrite) one format of one network into ``folder``, atomically; keeps the other format when
    it was made from the same weights."""
    from ..graph import assign, build
    from ..weights.store import sha256_file
    from .nnp import save_nnp

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "onnx":
        check_opset(opset)
    if batch is not None and batch < 1:
        raise ExportError("--batch must be a positive number or 'dynamic'")
    if batch is not None and fmt == "nnp":
        raise ExportError("NNP artifacts always have a variable batch size; --batch applies to ONNX only")
    spec, tag = job.model.spec, job.model.weights
    inputs = reference_inputs(spec)
    net = build(spec, len(inputs))
    assign(net, job.params(), str(job.path or job.model.name))
    reference = net.forward(inputs)

    previous = None
    if (folder / "MANIFEST.json").is_file():
        try:
            previous = read_manifest(folder)
        except FanzooError as exc:
            log.warning("replacing unreadable manifest in %s: %s", folder, exc)
    with atomic_dir(folder) as tmp:
        save_nnp(net, tmp / FORMATS["nnp"])
        if fmt == "onnx":
            import onnx

            model = nnp_to_onnx_model(tmp / FORMATS["nnp"], opset, dynamic_batch=batch is None, batch=batch or 1)
            check_float32(model)
            onnx.checker.check_model(model, full_check=True)
            onnx.save(model, str(tmp / FORMATS["onnx"]))
            (tmp / FORMATS["nnp"]).unlink()
        artifact = tmp / FORMATS[fmt]
        if batch is None:
            error = validate(spec, fmt, artifact, inputs, reference, tag.tolerance)
        else:  # a fixed-batch artifact is checked at its own batch size
            reps = np.resize(inputs, (batch, *inputs.shape[1:]))
            error = validate_fixed(spec, fmt, artifact, reps, net, batch, tag.tolerance)
        write_test_data_set(tmp / "test_data_set_0", [(spec.inputs[0].name, inputs)],
                            [(spec.outputs[0].name, reference)])
        entries = {fmt: ArtifactEntry(fmt, FORMATS[fmt], sha256_file(artifact), opset if fmt == "onnx" else None,
                                      "dynamic" if batch is None else str(batch), error)}
        if previous is not None and previous.weights_sha256 == job.fingerprint and previous.tag == tag.tag:
            for other, entry in previous.artifacts.items():
                if other != fmt and (folder / entry.file).is_file():
                    os.link(folder / entry.file, tmp / entry.file) if _same_fs(folder, tmp) \
                        else shutil.copy2(folder / entry.file, tmp / entry.file)
                    entries[other] = entry
        manifest = make_manifest(job, entries, "nnabla-export", batch is None, depth_tag)
        manifest.write(tmp)
    log.info("exported %s %s to %s (max relative error %.1e)", job.model.name, fmt, folder, error)
    return manifest


def make_manifest(job: WeightsJob, entries: dict[str, ArtifactEntry], made_by: str, dynamic: bool = True,
                  depth_tag: str | None = None) -> Manifest:
    """The manifest of one network's artifact folder: its weights' tag and the contract that goes with them."""
    from dataclasses import asdict

    spec, tag = job.model.spec, job.model.weights
    depth = None
    if spec.depth_model:
        depth = {"name": spec.depth_model, "tag": depth_tag or tag.depth, "path": f"../{spec.depth_model}"}
    return Manifest(
        model=spec.name, tag=tag.tag, task=spec.task, inputs=tensor_specs(spec.inputs),
        outputs=tensor_specs(spec.outputs),
        dynamic_axes={t.name: {"0": BATCH_DIM} for t in (*spec.inputs, *spec.outputs)} if dynamic else {},
        tolerance=tag.tolerance, weights_sha256=job.fingerprint, license=tag.license, made_by=made_by,
        fanzoo_version=__version__, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        artifacts=entries, preprocessing=asdict(spec.preprocessing) if spec.preprocessing else None,
        decoding={"subpixel": tag.subpixel} if spec.task == "landmarks" else None, depth_model=depth,
    )


def validate_fixed(spec: ModelSpec, fmt: str, artifact: Path, inputs: np.ndarray, net, batch: int,
                   tolerance: float) -> float:
    from ..graph import assign, build

    fixed = build(spec, batch)
    assign(fixed, {k: v.d for k, v in net.params.items()})
    session = _validation_backend(fmt).load(artifact, device="cpu")
    out = session.run({spec.inputs[0].name: inputs})[spec.outputs[0].name]
    error = relative_error(out, fixed.forward(inputs))
    if not error <= tolerance:
        raise ExportError(f"{spec.name} {fmt} artifact at batch {batch} differs by {error:.2e}; not written")
    return error


def _same_fs(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def export(model: str, fmt: str, out_dir: Path | str = "exported", weights: Path | None = None,
           depth_weights: Path | None = None, opset: int = DEFAULT_OPSET, batch: int | None = None,
           random_seed: int | None = None) -> list[Manifest]:
    """Export a model (``ARCH`` or ``ARCH.TAG``) and, for a 3D model, the depth network it needs, each into
    ``out_dir/<architecture>``. Both networks' weights are found before either is exported."""
    out_dir = Path(out_dir)
    jobs = plan(model, weights, depth_weights, random_seed)
    depth_tag = jobs[1].model.weights.tag if len(jobs) > 1 else None
    return [export_model(job, fmt, out_dir / job.model.spec.name, opset, batch, depth_tag) for job in jobs]


__all__ = ["export", "export_model", "reference_inputs", "FORMATS"]
