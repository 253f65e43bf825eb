"""Find or make the artifacts a backend needs, one folder per weight tag: an explicit folder, the package's
own, or the cache (``$FANZOO_HOME/artifacts/<model>.<tag>/``), made there when missing.

An artifact made from other weights than the tag's current ones is remade, never used silently; every
network a model needs (a 3D model's depth network too) is checked before any work starts. The MANIFEST
is the artifact's contract: its crop and decoding are what the predictor uses, and a mismatch with the
architecture or the requested tag is refused.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .decoding import SUBPIXEL_RULES
from .errors import ArtifactError, FanzooError, WeightsNotFoundError
from .export.manifest import Manifest, read_manifest
from .registry import WeightTag
from .weights.store import bundled_weights, home, how_to_get, local_weights, sha256_file, weights_fingerprint
from .weights.tags import TaggedModel, depth_of, lookup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedArtifact:
    """An artifact file ready to load, with the manifest that describes it."""

    model: TaggedModel
    path: Path
    manifest: Manifest


def artifacts_cache() -> Path:
    return home() / "artifacts"


def cache_folder(tag: WeightTag) -> Path:
    return artifacts_cache() / tag.name


def bundled_artifacts(tag: WeightTag) -> Path | None:
    """The export folder that ships beside a tag's bundled weights (same name, no suffix)."""
    weights = bundled_weights(tag)
    return weights.with_suffix("") if weights is not None else None


def _usable(folder: Path, fmt: str, tag: str | None, fingerprint: str | None) -> Manifest | None:
    try:
        manifest = read_manifest(folder)
        entry = manifest.entry(fmt)
    except FanzooError:
        return None
    if not (folder / entry.file).is_file():
        return None
    if tag is not None and manifest.tag != tag:
        return None
    if fingerprint is not None and manifest.weights_sha256 != fingerprint:
        return None
    return manifest


def _verified(folder: Path, manifest: Manifest, fmt: str, what: str) -> Path:
    path = folder / manifest.entry(fmt).file
    if sha256_file(path) != manifest.entry(fmt).sha256:  # damaged: say so, never load it
        raise ArtifactError(f"{path} does not match the sha256 in its manifest; {what}")
    return path


def find_artifact(model: TaggedModel, fmt: str, folder: Path | None = None) -> ResolvedArtifact | None:
    """An artifact that exists already: in ``folder`` (any weights: the user chose it), the package's, or
    the cache's when made from the tag's current weights."""
    spec, tag = model.spec, model.weights
    if folder is not None:
        where = Path(folder) / spec.name
        manifest = _usable(where, fmt, None, None)
        if manifest is None:
            raise ArtifactError(f"no {fmt} artifact of {spec.name} in {folder}; run "
                                f"`fanzoo export {model.name} --format {fmt} --out {folder}`")
        if model.explicit and manifest.tag != tag.tag:
            raise ArtifactError(f"{where} holds {manifest.weights_name}, not the requested {model.name}")
        return ResolvedArtifact(model, _verified(where, manifest, fmt, "export it again"), manifest)
    fingerprint = weights_fingerprint(tag)
    shipped = bundled_artifacts(tag)
    if shipped is not None and fingerprint is not None:
        manifest = _usable(shipped, fmt, tag.tag, fingerprint)
        if manifest is not None:
            return ResolvedArtifact(model, _verified(shipped, manifest, fmt, "reinstall fanzoo"), manifest)
    cached = cache_folder(tag)
    # without weights (removed since), an artifact made from them earlier is still a real, checked one
    manifest = _usable(cached, fmt, tag.tag, fingerprint)
    if manifest is not None:
        return ResolvedArtifact(model, _verified(cached, manifest, fmt, f"delete {cached} and run again"), manifest)
    return None


def make_artifact(model: TaggedModel, fmt: str, announce: Callable[[str], None] = log.warning) -> ResolvedArtifact:
    """Make the tag's artifact in the cache: ONNX by filling the shipped graph (seconds, no NNabla), NNP (or
    an architecture without a shipped graph) by NNabla export."""
    from .export.sources import own_weights
    from .graphs import CONTRACT_FILE, graph_folder

    job = own_weights(model)
    folder = cache_folder(model.weights)
    if fmt == "onnx" and (graph_folder(model.spec) / CONTRACT_FILE).is_file():
        from .export.binding import bind_model

        announce(f"binding {model.name} into its ONNX graph once, into {folder}")
        manifest = bind_model(job, folder)
        return ResolvedArtifact(model, folder / manifest.entry(fmt).file, manifest)
    try:
        import nnabla  # noqa: F401

        from .export.exporter import export_model
    except ImportError as exc:
        raise ArtifactError(f"{model.name} has no {fmt} artifact and making one needs NNabla (Python 3.10): "
                            f"pip install 'fanzoo[nnabla]' there, or pass --artifacts DIR ({exc})") from exc
    announce(f"exporting {model.name} to {fmt} once, into {folder} (this takes a while)")
    manifest = export_model(job, fmt, folder)
    return ResolvedArtifact(model, folder / manifest.entry(fmt).file, manifest)


def resolve_artifact(model: TaggedModel, fmt: str, folder: Path | None = None, auto_export: bool = True,
                     announce: Callable[[str], None] = log.warning) -> ResolvedArtifact:
    """The artifact of one network: found, or (without ``folder``) made into the cache."""
    found = find_artifact(model, fmt, folder)
    if found is not None:
        return found
    if not auto_export:
        raise ArtifactError(f"{model.name} has no {fmt} artifact here; run `fanzoo export {model.name} --format {fmt}`")
    return make_artifact(model, fmt, announce)


def prepare(name: str, fmt: str, folder: Path | None = None,
            announce: Callable[[str], None] = log.warning) -> list[ResolvedArtifact]:
    """The artifacts of a model and, for a 3D model, of its depth network, contracts checked.

    Every network is checked for an artifact or weights first, so a missing depth network is named
    before anything is made.
    """
    model = lookup(name)
    depth = depth_of(model)
    if folder is not None and depth is not None:
        landmarks = find_artifact(model, fmt, folder)
        assert landmarks is not None
        depth = _depth_in_folder(landmarks, depth)
    models = [model] + ([depth] if depth is not None else [])
    if folder is None:
        for needed in models:
            if find_artifact(needed, fmt) is None and local_weights(needed.weights) is None:
                role = "" if needed is model else f", the depth network {model.name} needs,"
                raise WeightsNotFoundError(f"no weights for {needed.name}{role} in {home() / 'weights'}; get them "
                                           f"with {how_to_get(needed.weights)}")
    resolved = [resolve_artifact(m, fmt, folder, announce=announce) for m in models]
    for r in resolved:
        check_contract(r)
    if len(resolved) == 2:
        wanted = (resolved[0].manifest.depth_model or {}).get("tag")
        if wanted is not None and wanted != resolved[1].manifest.tag:
            raise ArtifactError(f"{resolved[0].model.name} was made with depth weights {wanted!r}, but the depth "
                                f"artifact holds {resolved[1].manifest.weights_name}; export both again")
    return resolved


def _depth_in_folder(landmarks: ResolvedArtifact, depth: TaggedModel) -> TaggedModel:
    """In a user's folder the landmark manifest says which depth tag belongs to it."""
    recorded = (landmarks.manifest.depth_model or {}).get("tag")
    if recorded is None or recorded == depth.weights.tag:
        return depth
    return TaggedModel(depth.spec, lookup_or_local(depth, recorded), explicit=True)


def lookup_or_local(depth: TaggedModel, tag: str) -> WeightTag:
    from .registry import local_tag

    try:
        return lookup(f"{depth.spec.name}.{tag}").weights
    except FanzooError:  # a folder made elsewhere (seeded weights, another machine's tags)
        return local_tag(depth.spec, tag)


def check_contract(resolved: ResolvedArtifact) -> None:
    """The manifest must describe this architecture (same tensors) and, for a named tag, those weights."""
    manifest, spec, tag = resolved.manifest, resolved.model.spec, resolved.model.weights
    where = resolved.path.parent
    if manifest.model != spec.name or manifest.task != spec.task:
        raise ArtifactError(f"{where} holds {manifest.model} ({manifest.task}), not {spec.name}")
    for declared, recorded in zip((*spec.inputs, *spec.outputs), (*manifest.inputs, *manifest.outputs)):
        if declared.name != recorded.get("name") or list(declared.shape[1:]) != list(recorded.get("shape", [])[1:]):
            raise ArtifactError(f"{where}: tensor {recorded.get('name')!r} {recorded.get('shape')} does not match "
                                f"{spec.name}'s {declared.name!r} {list(declared.shape)}; export it again")
    if resolved.model.explicit and manifest.tag != tag.tag:
        raise ArtifactError(f"{where} holds {manifest.weights_name}, not the requested {resolved.model.name}")
    if spec.task != "landmarks":
        return
    crop = manifest.crop()
    if crop is None or crop.input_size != spec.inputs[0].shape[-1] or manifest.subpixel not in SUBPIXEL_RULES:
        raise ArtifactError(f"{where}: the manifest's preprocessing or decoding is missing or does not fit "
                            f"{spec.name}; export it again")
    if manifest.tag == tag.tag and not tag.user and manifest.subpixel != tag.subpixel:
        raise ArtifactError(f"{where}: the manifest decodes {manifest.weights_name} with the {manifest.subpixel!r} "
                            f"rule, the registry with {tag.subpixel!r}; export it again")
