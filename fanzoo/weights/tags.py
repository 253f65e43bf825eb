"""Weight tags by name: the registry's and the user's own (recorded in the cache), and which tag a file is."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnknownModelError, WeightsError
from ..registry import LOCAL_TAG, TAG_PATTERN, ModelRegistry, ModelSpec, WeightTag, local_tag, split_name
from .store import bundled_weights, read_record, sha256_file, user_tags


@dataclass(frozen=True)
class TaggedModel:
    """An architecture with one set of its weights: what a name like ``2dfan4.official`` means."""

    spec: ModelSpec
    weights: WeightTag
    explicit: bool = False  # the tag was named, not implied by the architecture's default

    @property
    def name(self) -> str:
        return self.weights.name


def _registry() -> ModelRegistry:
    from ..plugins import registry

    return registry()


def user_tag(spec: ModelSpec, tag: str, registry: ModelRegistry | None = None) -> WeightTag | None:
    """A tag the user made (its record in the cache defines it); ``local`` exists even before any import."""
    reg = registry or _registry()
    record = read_record(spec.name, tag)
    default = reg.default_tag(spec.name)
    is_default = default.user and default.tag == tag  # an architecture without published weights
    if record is not None:
        return local_tag(spec, tag, license=record.license, subpixel=record.subpixel, tolerance=default.tolerance,
                         default=is_default)
    if tag == LOCAL_TAG:
        return local_tag(spec, subpixel=default.subpixel, tolerance=default.tolerance, default=is_default)
    return None


def lookup(name: str, registry: ModelRegistry | None = None) -> TaggedModel:
    """``ARCH`` (its default tag) or ``ARCH.TAG`` (a registered tag, or one the user imported)."""
    reg = registry or _registry()
    spec = reg.get(name)
    _, tag = split_name(name)
    if tag is None:
        default = reg.default_tag(spec.name)
        # a user's default (no published weights) is described by its record, when there is one
        return TaggedModel(spec, user_tag(spec, default.tag, reg) if default.user else default)
    found = reg.registered_tag(spec.name, tag) or user_tag(spec, tag, reg)
    if found is None:
        known = ", ".join(t.name for t in all_tags(spec, reg))
        raise UnknownModelError(f"{spec.name} has no weight tag {tag!r}; its tags: {known} "
                                f"(import your own with `fanzoo weights import {spec.name} FILE --tag {tag}`)")
    return TaggedModel(spec, found, explicit=True)


def all_tags(spec: ModelSpec, registry: ModelRegistry | None = None) -> list[WeightTag]:
    """Registered tags (the default first), then the user's tags found in the cache."""
    reg = registry or _registry()
    tags = reg.tags(spec.name) or [reg.default_tag(spec.name)]
    names = {t.tag for t in tags}
    for tag in user_tags(spec.name):
        if tag not in names:
            found = user_tag(spec, tag, reg)
            if found is not None:
                tags.append(found)
    return tags


def depth_of(model: TaggedModel, registry: ModelRegistry | None = None) -> TaggedModel | None:
    """The depth network a 3D model's tag needs (``3dfan4.official`` -> ``resnetdepth.official``)."""
    if not model.spec.depth_model:
        return None
    return lookup(f"{model.spec.depth_model}.{model.weights.depth}", registry)


def tag_for_file(spec: ModelSpec, digest: str, requested: str | None = None,
                 registry: ModelRegistry | None = None) -> str:
    """The tag a weights file goes to: a registered tag only when the file is that tag's (by its published
    hash, or the bundled file's), so a user's file never takes the place of published weights."""
    reg = registry or _registry()
    matching = [t for t in reg.tags(spec.name)
                if any(s.matches(digest) for s in t.sources) or _is_bundled_file(t, digest)]
    if requested is None:
        return matching[0].tag if matching else LOCAL_TAG
    if not TAG_PATTERN.fullmatch(requested):
        raise WeightsError(f"bad weight tag {requested!r}: use 1 to 32 lowercase letters, digits, '-' or '_'")
    registered = reg.registered_tag(spec.name, requested)
    if registered is not None and registered not in matching:
        raise WeightsError(f"this file is not the published {registered.name} (its sha256 {digest[:12]}... "
                           f"matches none of that tag's hashes); import it under a tag of your own, e.g. "
                           f"--tag {LOCAL_TAG}")
    return requested


def _is_bundled_file(tag: WeightTag, digest: str) -> bool:
    path = bundled_weights(tag)
    return path is not None and path.is_file() and sha256_file(path) == digest
