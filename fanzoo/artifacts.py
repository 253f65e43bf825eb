"""Find or make the artifacts a backend needs, one folder per weight tag: an explicit folder, the package's
own, or the cache (``$FANZOO_HOME/artifacts/<model>.<tag>/``), made there when missing.

An artifact made from other weights than the tag's current ones is remade, never used silently; every
network a model needs (a 3D model's depth network too) is checked before any work starts. ONNX is made by
filling the shipped weight-free graph (no NNabla), NNP by NNabla export, int8 by quantizing the fp32 file.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .contract import check_contract, check_depth_pairing, depth_in_folder
from .errors import ArtifactError, WeightsNotFoundError
from .export.manifest import MANIFEST, Manifest, StaleManifestError, read_manifest
from .export.verify import artifact_path, known_sha256, verify_artifact
from .precision import FP32, artifact_key
from .registry import WeightTag
from .weights.store import bundled_weights, cached_weights, home, how_to_get, local_weights, read_record
from .weights.tags import TaggedModel, depth_of, lookup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedArtifact:
    """An artifact file ready to load, with the manifest that describes it and the precision it runs at."""

    model: TaggedModel
    path: Path
    manifest: Manifest
    precision: str = FP32


def artifacts_cache() -> Path:
    return home() / "artifacts"


def cache_folder(tag: WeightTag) -> Path:
    return artifacts_cache() / tag.name


def bundled_artifacts(tag: WeightTag) -> Path | None:
    """The export folder that ships beside a tag's bundled weights (same name, no suffix)."""
    weights = bundled_weights(tag)
    return weights.with_suffix("") if weights is not None else None


def weights_fingerprint(tag: WeightTag) -> str | None:
    """sha256 of the tag's weights here: the record's (hashed at import) or the bundled file's (hashed once
    per change of the file); None without weights."""
    path = local_weights(tag)
    if path is None:
        return None
    if path == cached_weights(tag):
        record = read_record(tag.model, tag.tag)
        if record is not None:
            return record.weights_sha256
    return known_sha256(path)


def _usable(folder: Path, key: str, tag: str | None, fingerprint: str | None) -> Manifest | None:
    """The folder's manifest if it holds a ``key`` artifact of tag ``tag`` made from ``fingerprint`` (any when
    None); None when there is none or it is out of date. A damaged manifest is an error, never skipped."""
    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = read_manifest(folder)
    except StaleManifestError:  # another schema: made anew
        return None
    if key not in manifest.artifacts or not artifact_path(folder, manifest.entry(key)).is_file():
        return None
    if tag is not None and manifest.tag != tag:
        return None
    if fingerprint is not None and manifest.weights_sha256 != fingerprint:
        return None
    entry = manifest.entry(key)
    if entry.precision != FP32:  # a quantized file: made by the current recipe?
        from .export.quantize import INT8_RECIPE, is_current, recipe_of

        if not is_current(entry):
            said = f"{entry.file} in {folder} was made by int8 recipe {recipe_of(entry)}, not the current {INT8_RECIPE}"
            if tag is not None:  # fanzoo's own cache: made again
                log.warning("%s: making it again", said)
                return None
            # a folder the user chose: their file, used as it is, but not silently
            log.warning("%s (used as it is; `fanzoo export --precision int8` makes a current one)", said)
    return manifest


def find_artifact(model: TaggedModel, fmt: str, folder: Path | None = None,
                  precision: str = FP32) -> ResolvedArtifact | None:
    """An artifact that exists already: in ``folder`` (any weights: the user chose it), the package's, or
    the cache's when made from the tag's current weights."""
    spec, tag = model.spec, model.weights
    key = artifact_key(fmt, precision)
    how = f"--format {fmt}" + (f" --precision {precision}" if key != fmt else "")
    if folder is not None:
        where = Path(folder) / spec.name
        manifest = _usable(where, key, None, None)
        if manifest is None:
            raise ArtifactError(f"no {key} artifact of {spec.name} in {folder}; run "
                                f"`fanzoo export {model.name} {how} --out {folder}`")
        if model.explicit and manifest.tag != tag.tag:
            raise ArtifactError(f"{where} holds {manifest.weights_name}, not the requested {model.name}")
        return ResolvedArtifact(model, verify_artifact(where, manifest.entry(key)), manifest, precision)
    fingerprint = weights_fingerprint(tag)
    shipped = bundled_artifacts(tag)
    if shipped is not None and fingerprint is not None:
        manifest = _usable(shipped, key, tag.tag, fingerprint)
        if manifest is not None:
            # a damaged install: say so, never load it
            return ResolvedArtifact(model, verify_artifact(shipped, manifest.entry(key)), manifest, precision)
    cached = cache_folder(tag)
    # without weights (removed since), an artifact made from them earlier is still a real, checked one
    manifest = _usable(cached, key, tag.tag, fingerprint)
    if manifest is not None:
        return ResolvedArtifact(model, verify_artifact(cached, manifest.entry(key)), manifest, precision)
    return None


def make_artifact(model: TaggedModel, fmt: str, announce: Callable[[str], None] = log.warning,
                  precision: str = FP32) -> ResolvedArtifact:
    """Make the tag's artifact in the cache: ONNX by filling the shipped graph (seconds, no NNabla), NNP (or
    an architecture without a shipped graph) by NNabla export, int8 by quantizing the fp32 ONNX file."""
    from .export.sources import own_weights
    from .graphs import CONTRACT_FILE, graph_folder

    folder = cache_folder(model.weights)
    key = artifact_key(fmt, precision)
    if key != fmt:
        if fmt != "onnx":
            raise ArtifactError(f"{precision} artifacts are ONNX files; this backend loads {fmt}")
        from .export.quantize import quantize_folder

        fp32 = find_artifact(model, fmt) or make_artifact(model, fmt, announce)
        announce(f"quantizing {model.name} to {precision} once, into {folder} (calibration takes a minute or more)")
        manifest = quantize_folder(model.spec, fp32.path.parent, folder)
        return ResolvedArtifact(model, verify_artifact(folder, manifest.entry(key)), manifest, precision)
    job = own_weights(model)
    if fmt == "onnx" and (graph_folder(model.spec) / CONTRACT_FILE).is_file():
        from .export.binding import bind_model

        announce(f"binding {model.name} into its ONNX graph once, into {folder}")
        manifest = bind_model(job, folder)
        return ResolvedArtifact(model, verify_artifact(folder, manifest.entry(fmt)), manifest)
    try:
        import nnabla  # noqa: F401

        from .export.exporter import export_model
    except ImportError as exc:
        raise ArtifactError(f"{model.name} has no {fmt} artifact and making one needs NNabla (Python 3.10): "
                            f"pip install 'fanzoo[nnabla]' there, or pass --artifacts DIR ({exc})") from exc
    announce(f"exporting {model.name} to {fmt} once, into {folder} (this takes a while)")
    manifest = export_model(job, fmt, folder)
    return ResolvedArtifact(model, verify_artifact(folder, manifest.entry(fmt)), manifest)


def resolve_artifact(model: TaggedModel, fmt: str, folder: Path | None = None, auto_export: bool = True,
                     announce: Callable[[str], None] = log.warning, precision: str = FP32) -> ResolvedArtifact:
    """The artifact of one network: found, or (without ``folder``) made into the cache."""
    found = find_artifact(model, fmt, folder, precision)
    if found is not None:
        return found
    if not auto_export:
        how = f"--format {fmt}" + (f" --precision {precision}" if artifact_key(fmt, precision) != fmt else "")
        raise ArtifactError(f"{model.name} has no {artifact_key(fmt, precision)} artifact here; run "
                            f"`fanzoo export {model.name} {how}`")
    return make_artifact(model, fmt, announce, precision)


def prepare(name: str, fmt: str, folder: Path | None = None, announce: Callable[[str], None] = log.warning,
            precision: str = FP32) -> list[ResolvedArtifact]:
    """The artifacts of a model and, for a 3D model, of its depth network, contracts checked.

    Every network is checked for an artifact or weights first, so a missing depth network is named
    before anything is made. A network without an int8 version runs in fp32 at ``precision="int8"``
    (announced).
    """
    model = lookup(name)
    depth = depth_of(model)
    if folder is not None and depth is not None:
        landmarks = find_artifact(model, fmt, folder, precision)
        assert landmarks is not None
        depth = depth_in_folder(landmarks.manifest, depth)
    models = [model] + ([depth] if depth is not None else [])
    precisions = []
    for m in models:
        used = precision
        if precision == "int8" and not m.spec.int8:
            used = FP32
            announce(f"{m.spec.name} has no int8 version (measured too far from fp32, see its registry entry); it runs in fp32")
        precisions.append(used)
    if folder is None:
        for needed, used in zip(models, precisions):
            if find_artifact(needed, fmt, None, used) is None and local_weights(needed.weights) is None:
                role = "" if needed is model else f", the depth network {model.name} needs,"
                raise WeightsNotFoundError(f"no weights for {needed.name}{role} in {home() / 'weights'}; get them "
                                           f"with {how_to_get(needed.weights)}")
    resolved = [resolve_artifact(m, fmt, folder, announce=announce, precision=used)
                for m, used in zip(models, precisions)]
    for r in resolved:
        check_contract(r.model, r.manifest, r.path.parent)
    if len(resolved) == 2:
        check_depth_pairing(resolved[0].model, resolved[0].manifest, resolved[1].manifest)
    return resolved
