"""An artifact's MANIFEST is its contract: it must describe the architecture it is loaded as (the same
tensors) and, for a named weight tag, those weights; its crop and decoding are what the predictor uses."""
from __future__ import annotations

from pathlib import Path

from .decoding import SUBPIXEL_RULES
from .errors import ArtifactError, FanzooError
from .export.manifest import Manifest
from .registry import WeightTag, local_tag
from .weights.tags import TaggedModel, lookup


def check_contract(model: TaggedModel, manifest: Manifest, where: Path) -> None:
    """Refuse an artifact whose manifest does not fit ``model``, saying what differs."""
    spec, tag = model.spec, model.weights
    if manifest.model != spec.name or manifest.task != spec.task:
        raise ArtifactError(f"{where} holds {manifest.model} ({manifest.task}), not {spec.name}")
    for declared, recorded in zip((*spec.inputs, *spec.outputs), (*manifest.inputs, *manifest.outputs)):
        if declared.name != recorded.get("name") or list(declared.shape[1:]) != list(recorded.get("shape", [])[1:]):
            raise ArtifactError(f"{where}: tensor {recorded.get('name')!r} {recorded.get('shape')} does not match "
                                f"{spec.name}'s {declared.name!r} {list(declared.shape)}; export it again")
    if model.explicit and manifest.tag != tag.tag:
        raise ArtifactError(f"{where} holds {manifest.weights_name}, not the requested {model.name}")
    if spec.task != "landmarks":
        return
    if manifest.crop() != spec.preprocessing or manifest.subpixel not in SUBPIXEL_RULES:
        raise ArtifactError(f"{where}: the manifest's crop geometry or decoding is missing or is not "
                            f"{spec.name}'s ({manifest.preprocessing}, {manifest.decoding}); export it again")
    if manifest.tag == tag.tag and not tag.user and manifest.subpixel != tag.subpixel:
        raise ArtifactError(f"{where}: the manifest decodes {manifest.weights_name} with the {manifest.subpixel!r} "
                            f"rule, the registry with {tag.subpixel!r}; export it again")


def check_depth_pairing(landmarks: TaggedModel, manifest: Manifest, depth: Manifest) -> None:
    """A 3D artifact names the depth weights it was made with; the depth artifact must hold those."""
    wanted = (manifest.depth_model or {}).get("tag")
    if wanted is not None and wanted != depth.tag:
        raise ArtifactError(f"{landmarks.name} was made with depth weights {wanted!r}, but the depth artifact holds "
                            f"{depth.weights_name}; export both again")


def depth_in_folder(manifest: Manifest, depth: TaggedModel) -> TaggedModel:
    """In a user's folder the landmark manifest says which depth tag belongs to it."""
    recorded = (manifest.depth_model or {}).get("tag")
    if recorded is None or recorded == depth.weights.tag:
        return depth
    return TaggedModel(depth.spec, _tag_or_local(depth, recorded), explicit=True)


def _tag_or_local(depth: TaggedModel, tag: str) -> WeightTag:
    try:
        return lookup(f"{depth.spec.name}.{tag}").weights
    except FanzooError:  # a folder made elsewhere (seeded weights, another machine's tags)
        return local_tag(depth.spec, tag)
