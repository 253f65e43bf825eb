"""The local weights cache ($FANZOO_HOME, default ~/.cache/fanzoo): where each model's NNabla .h5 lives."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import WeightsNotFoundError
from ..registry import ModelSpec


def home() -> Path:
    return Path(os.environ.get("FANZOO_HOME") or Path.home() / ".cache" / "fanzoo")


def weights_dir() -> Path:
    return home() / "weights"


def cached_weights(spec: ModelSpec) -> Path:
    """Where imported or fetched weights of a model live, in the official NNabla layout."""
    return weights_dir() / f"{spec.name}.h5"


def bundled_weights(spec: ModelSpec) -> Path | None:
    if not spec.bundled_weights:
        return None
    return Path(__file__).resolve().parents[1] / spec.bundled_weights


def local_weights(spec: ModelSpec) -> Path | None:
    """The cache first (a user's import overrides what ships), then bundled weights; None if neither."""
    cached = cached_weights(spec)
    if cached.is_file():
        return cached
    bundled = bundled_weights(spec)
    return bundled if bundled is not None and bundled.is_file() else None


def resolve_weights(spec: ModelSpec, given: Path | str | None = None) -> Path:
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file not found: {path}")
        return path
    found = local_weights(spec)
    if found is None:
        how = (f"`fanzoo weights fetch {spec.name}` (needs internet) or "
               f"`fanzoo weights import {spec.name} FILE` (an NNabla .h5 or the authors' .pth.tar)")
        if not spec.weights:
            how = f"`fanzoo weights import {spec.name} FILE` (this model has no official weights) or `fanzoo train`"
        raise WeightsNotFoundError(f"no weights for {spec.name} in {weights_dir()}; get them with {how}")
    return found


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
