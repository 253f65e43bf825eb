"""The local weights cache ($FANZOO_HOME, default ~/.cache/fanzoo), keyed by weight tag.

``weights/<model>.<tag>.npz`` holds the parameters (NNabla names, float32) and ``<model>.<tag>.json`` a
record of where they came from; for a user's tag the record also defines the tag (licence, decoding).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import WeightsError, WeightsNotFoundError
from ..jsonparse import parse_json
from ..registry import TAG_PATTERN, WeightTag

PACKAGE = Path(__file__).resolve().parents[1]


def home() -> Path:
    return Path(os.environ.get("FANZOO_HOME") or Path.home() / ".cache" / "fanzoo")


def weights_dir() -> Path:
    return home() / "weights"


@dataclass(frozen=True)
class WeightsRecord:
    """What the cache knows of one tag's weights file."""

    model: str
    tag: str
    weights_sha256: str  # of the .npz in the cache
    source: str  # the file they were imported from (its name)
    source_sha256: str
    source_format: str  # "nnabla-h5", "torch" or "npz"
    subpixel: str
    license: str
    imported: str  # UTC, ISO 8601

    @classmethod
    def now(cls, **values: str) -> WeightsRecord:
        return cls(imported=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **values)


def cached_weights(tag: WeightTag) -> Path:
    """Where imported or fetched weights of a tag live."""
    return weights_dir() / f"{tag.model}.{tag.tag}.npz"


def record_path(model: str, tag: str) -> Path:
    return weights_dir() / f"{model}.{tag}.json"


def read_record(model: str, tag: str) -> WeightsRecord | None:
    path = record_path(model, tag)
    if not path.is_file():
        return None
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(WeightsRecord)}
        if not isinstance(data, dict) or set(data) != known or not all(isinstance(v, str) for v in data.values()):
            raise ValueError("unexpected fields")
        record = WeightsRecord(**data)
    except ValueError as exc:
        raise WeightsError(f"{path} is damaged ({exc}); import the weights again") from exc
    if (record.model, record.tag) != (model, tag):
        raise WeightsError(f"{path} describes {record.model}.{record.tag}; import the weights again")
    return record


def write_record(record: WeightsRecord) -> None:
    atomic_write_text(record_path(record.model, record.tag), json.dumps(asdict(record), indent=2) + "\n")


def user_tags(model: str) -> list[str]:
    """Tags with weights in the cache for ``model`` (registered or the user's), sorted."""
    found = []
    for path in sorted(weights_dir().glob(f"{model}.*.json")):
        tag = path.name[len(model) + 1:-len(".json")]
        if TAG_PATTERN.fullmatch(tag):
            found.append(tag)
    return found


def bundled_weights(tag: WeightTag) -> Path | None:
    return PACKAGE / tag.bundled if tag.bundled else None


def local_weights(tag: WeightTag) -> Path | None:
    """The tag's weights file here: the package's own, else the cache's; None if neither.

    A cached copy of bundled weights can only be the same weights (an import goes to a bundled tag only
    when it is the bundled file), so the package's file is the one used.
    """
    bundled = bundled_weights(tag)
    if bundled is not None and bundled.is_file():
        return bundled
    cached = cached_weights(tag)
    return cached if cached.is_file() else None


def how_to_get(tag: WeightTag) -> str:
    if tag.sources:
        return (f"`fanzoo weights fetch {tag.name}` (needs internet) or `fanzoo weights import {tag.model} FILE` "
                "(an NNabla .h5 or the authors' .pth.tar)")
    if tag.user:
        return f"`fanzoo weights import {tag.model} FILE --tag {tag.tag}` (an NNabla .h5 or the authors' .pth.tar)"
    return f"reinstall fanzoo ({tag.name} ships with the package)"


def resolve_weights(tag: WeightTag, given: Path | str | None = None) -> Path:
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file not found: {path}")
        return path
    found = local_weights(tag)
    if found is None:
        raise WeightsNotFoundError(f"no weights for {tag.name} in {weights_dir()}; get them with {how_to_get(tag)}")
    return found


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
