"""An artifact folder as a whole: the manifest that describes it, the other format it keeps when the weights
are the same, and the backend that checks what is written into it."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..errors import ExportError, FanzooError
from .manifest import BATCH_DIM, MANIFEST, ArtifactEntry, Manifest, read_manifest, tensor_specs
from .sources import WeightsJob

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "nnp": "model.nnp"}
PREFERRED_BACKEND = {"onnx": "onnxruntime", "nnp": "nnabla"}


def validation_backend(fmt: str):
    from ..plugins import plugins

    backends = [b for b in plugins().backends.values() if b.artifact_format == fmt]
    if not backends:
        raise ExportError(f"no installed backend loads {fmt} artifacts, so the artifact cannot be checked; "
                          f"install fanzoo-{PREFERRED_BACKEND[fmt]}")
    backends.sort(key=lambda b: b.name != PREFERRED_BACKEND[fmt])
    return backends[0]


def carried_entries(folder: Path, tmp: Path, fmt: str, job: WeightsJob) -> dict[str, ArtifactEntry]:
    """The other format's entry of an earlier manifest of ``folder``, its file linked into ``tmp``, when it
    was made from the same weights (an artifact of other weights never survives beside new ones)."""
    if not (folder / MANIFEST).is_file():
        return {}
    try:
        previous = read_manifest(folder)
    except FanzooError as exc:
        log.warning("replacing unreadable manifest in %s: %s", folder, exc)
        return {}
    if previous.weights_sha256 != job.fingerprint or previous.tag != job.model.weights.tag:
        return {}
    kept = {}
    for other, entry in previous.artifacts.items():
        # every other file (an NNP, an int8 copy) of the same weights stays valid beside the new one
        if other != fmt and Path(entry.file).name == entry.file and (folder / entry.file).is_file():
            if os.stat(folder).st_dev == os.stat(tmp).st_dev:
                os.link(folder / entry.file, tmp / entry.file)
            else:
                shutil.copy2(folder / entry.file, tmp / entry.file)
            kept[other] = entry
    return kept


def make_manifest(job: WeightsJob, entries: dict[str, ArtifactEntry], made_by: str, dynamic: bool = True,
                  depth_tag: str | None = None, graph_sha256: str | None = None) -> Manifest:
    """The manifest of one network's artifact folder: its weights' tag and the contract that goes with them."""
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
        graph_sha256=graph_sha256,
    )
