"""Which weights an export uses: a tag's, a file the user gives, or seeded random ones; every network of
the job (a 3D model and its depth network) is checked before any work starts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..registry import local_tag
from ..weights.store import cached_weights, read_record, resolve_weights, sha256_file
from ..weights.tags import TaggedModel, depth_of, lookup, tag_for_file


@dataclass(frozen=True)
class WeightsJob:
    """One network to export or bind, with the weights it gets."""

    model: TaggedModel
    path: Path | None  # a weights file; None for seeded random weights
    seed: int | None
    fingerprint: str  # sha256 of the weights file, or "random:<seed>"

    def params(self) -> dict[str, np.ndarray]:
        if self.seed is not None:
            from ..weights.synthetic import seeded_params

            return seeded_params(self.model.spec, self.seed)
        from ..weights.importer import expected_shapes, read_any_weights

        assert self.path is not None
        # the cache's own files are checked against their record before use
        if self.path == cached_weights(self.model.weights) and sha256_file(self.path) != self.fingerprint:
            raise WeightsError(f"{self.path} does not match the sha256 its record holds; import "
                               f"{self.model.name} again")
        params, _ = read_any_weights(self.path, expected_shapes(self.model.spec), self.model.spec.name)
        return params


def seeded_tag(model: TaggedModel, seed: int) -> TaggedModel:
    default = model.weights
    return TaggedModel(model.spec, local_tag(model.spec, f"seed-{seed}", license="seeded random weights (tests)",
                                             subpixel=default.subpixel, tolerance=default.tolerance,
                                             description="seeded random weights for tests"))


def _job(model: TaggedModel, given: Path | None, seed: int | None) -> WeightsJob:
    if seed is not None:
        return WeightsJob(seeded_tag(model, seed), None, seed, f"random:{seed}")
    if given is not None:
        path = resolve_weights(model.weights, given)
        digest = sha256_file(path)
        # a file is a registered tag only if it has that tag's hash (as for `weights import`)
        tag = tag_for_file(model.spec, digest, model.weights.tag if model.explicit else None)
        from ..weights.importer import tag_named

        return WeightsJob(TaggedModel(model.spec, tag_named(model.spec, tag), True), path, None, digest)
    path = resolve_weights(model.weights)
    record = read_record(model.spec.name, model.weights.tag) if path == cached_weights(model.weights) else None
    return WeightsJob(model, path, None, record.weights_sha256 if record is not None else sha256_file(path))


def own_weights(model: TaggedModel) -> WeightsJob:
    """One network with its tag's weights (a 3D model's depth network is not part of it)."""
    return _job(model, None, None)


def plan(name: str, weights: Path | None = None, depth_weights: Path | None = None,
         random_seed: int | None = None) -> list[WeightsJob]:
    """The model and, for a 3D model, its depth network (seed + 1 for seeded weights); raises before any work
    if either has no weights, naming the one that is missing."""
    model = lookup(name)
    first = _job(model, weights, random_seed)
    jobs = [first]
    if model.spec.depth_model:
        depth = depth_of(first.model if random_seed is None else model)
        assert depth is not None
        jobs.append(_job(depth, depth_weights, None if random_seed is None else random_seed + 1))
    return jobs
