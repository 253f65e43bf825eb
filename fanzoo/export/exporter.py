"""NNabla export: registry graph + weights -> NNP / ONNX artifacts validated against the NNabla graph."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..errors import ExportError, FanzooError
from ..registry import ModelSpec
from .folder import FORMATS, carried_entries, make_manifest, validation_backend
from .graph_passes import PASSES, optimize
from .manifest import ArtifactEntry, Manifest, read_manifest
from .onnx_convert import DEFAULT_OPSET, check_float32, check_opset, nnp_to_onnx_model
from .reference import REFERENCE_FACES, reference_inputs, relative_error, write_test_data_set
from .sources import WeightsJob, plan

log = logging.getLogger(__name__)


def validate(spec: ModelSpec, fmt: str, artifact: Path, inputs: np.ndarray, reference: np.ndarray,
             tolerance: float) -> float:
    """Run the artifact at the full reference batch and at batch 1; return the worst relative error."""
    session = validation_backend(fmt).load(artifact, device="cpu")
    feed, fetch = spec.inputs[0].name, spec.outputs[0].name
    errors = [relative_error(session.run({feed: inputs})[fetch], reference)]
    errors += [relative_error(session.run({feed: inputs[i:i + 1]})[fetch], reference[i:i + 1])
               for i in range(len(inputs))]
    worst = max(errors)
    if not worst <= tolerance:
        raise ExportError(f"{spec.name} {fmt} artifact differs from the NNabla graph by {worst:.2e} (relative), "
                          f"more than the declared tolerance {tolerance:.0e}; it was not written")
    return worst


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

    passes = None
    with atomic_dir(folder) as tmp:
        save_nnp(net, tmp / FORMATS["nnp"])
        if fmt == "onnx":
            import onnx

            model = nnp_to_onnx_model(tmp / FORMATS["nnp"], opset, dynamic_batch=batch is None, batch=batch or 1)
            passes = optimize(model)  # exact rewrites; the validation below checks the result like any other
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
                                      "dynamic" if batch is None else str(batch), error, graph_passes=passes)}
        entries.update(carried_entries(folder, tmp, fmt, job))
        manifest = make_manifest(job, entries, "nnabla-export", batch is None, depth_tag)
        manifest.write(tmp)
    log.info("exported %s %s to %s (max relative error %.1e)", job.model.name, fmt, folder, error)
    return manifest


def validate_fixed(spec: ModelSpec, fmt: str, artifact: Path, inputs: np.ndarray, net, batch: int,
                   tolerance: float) -> float:
    from ..graph import assign, build

    fixed = build(spec, batch)
    assign(fixed, {k: v.d for k, v in net.params.items()})
    session = validation_backend(fmt).load(artifact, device="cpu")
    out = session.run({spec.inputs[0].name: inputs})[spec.outputs[0].name]
    error = relative_error(out, fixed.forward(inputs))
    if not error <= tolerance:
        raise ExportError(f"{spec.name} {fmt} artifact at batch {batch} differs by {error:.2e}; not written")
    return error


def nnabla_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nnabla") is not None


def up_to_date(job: WeightsJob, fmt: str, folder: Path, opset: int, batch: int | None) -> Manifest | None:
    """The manifest of ``folder`` if it already holds this export (same weights and tag, opset and batch)."""
    try:
        manifest = read_manifest(folder)
        entry = manifest.entry(fmt)
    except FanzooError:
        return None
    same = (manifest.weights_sha256 == job.fingerprint and manifest.tag == job.model.weights.tag
            and entry.batch == ("dynamic" if batch is None else str(batch))
            and (fmt != "onnx" or (entry.opset == opset and entry.graph_passes == list(PASSES)))
            and (folder / entry.file).is_file())
    return manifest if same else None


def export(model: str, fmt: str, out_dir: Path | str = "exported", weights: Path | None = None,
           depth_weights: Path | None = None, opset: int = DEFAULT_OPSET, batch: int | None = None,
           random_seed: int | None = None, bind: bool | None = None, reuse: bool = False) -> list[Manifest]:
    """Export a model (``ARCH`` or ``ARCH.TAG``) and, for a 3D model, the depth network it needs, each into
    ``out_dir/<architecture>``. Both networks' weights are found before either is written.

    ONNX comes from NNabla where it is installed, else (or with ``bind=True``) from filling the shipped
    weight-free graph; NNP needs NNabla. ``reuse`` keeps an artifact already there from the same weights,
    opset and batch instead of making it again.
    """
    from .binding import bind_model

    out_dir = Path(out_dir)
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    jobs = plan(model, weights, depth_weights, random_seed)
    depth_tag = jobs[1].model.weights.tag if len(jobs) > 1 else None
    if bind is None:
        bind = not nnabla_available()
    if bind:
        if fmt == "nnp":
            raise ExportError("NNP export needs NNabla, which installs on Python 3.10 only: pip install 'fanzoo[nnabla]'")
        check_opset(opset)
        if opset != DEFAULT_OPSET or batch is not None:
            raise ExportError(f"without NNabla, ONNX artifacts are the shipped opset-{DEFAULT_OPSET}, dynamic-batch "
                              "graphs filled with weights; --opset and --batch need NNabla (Python 3.10)")
    made = []
    for job in jobs:
        folder = out_dir / job.model.spec.name
        existing = up_to_date(job, fmt, folder, opset, batch) if reuse else None
        if existing is not None:
            log.info("%s: keeping the %s artifact in %s (same weights, opset and batch)", job.model.name, fmt, folder)
            made.append(existing)
        elif bind:
            made.append(bind_model(job, folder, depth_tag))
        else:
            made.append(export_model(job, fmt, folder, opset, batch, depth_tag))
    return made


__all__ = ["export", "export_model", "reference_inputs", "REFERENCE_FACES", "FORMATS"]
