"""`fanzoo weights fetch`: download official weights with a progress bar, verify the hash, then import."""
from __future__ import annotations

import hashlib
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_path
from ..errors import ChecksumError, DownloadError, WeightsError
from ..registry import WeightsSource, WeightTag
from .store import home
from .tags import TaggedModel

log = logging.getLogger(__name__)
CHUNK = 1 << 16


def downloads_dir() -> Path:
    return home() / "downloads"


def choose_source(tag: WeightTag, fmt: str | None = None, expected: str | None = None) -> WeightsSource:
    """The source of that format; by default the first whose hash is published (or, given --sha256, the first)."""
    if not tag.sources:
        raise WeightsError(f"{tag.name} has no weights to download; import your own with "
                           f"`fanzoo weights import {tag.model} FILE`")
    candidates = [s for s in tag.sources if fmt is None or s.format == fmt]
    if not candidates:
        formats = ", ".join(s.format for s in tag.sources)
        raise WeightsError(f"{tag.name} has no {fmt} weights; available: {formats}")
    verifiable = [s for s in candidates if s.sha256 or s.sha256_prefix]
    return verifiable[0] if verifiable and expected is None else candidates[0]


def check_digest(digest: str, source: WeightsSource, expected: str | None) -> None:
    want = (expected or source.sha256 or "").lower()
    if want:
        if digest != want:
            raise ChecksumError(f"{source.file_name}: sha256 {digest} does not match the expected {want}; "
                                "the download is corrupt or was tampered with, and was discarded")
    elif source.sha256_prefix:
        if not digest.startswith(source.sha256_prefix):
            raise ChecksumError(f"{source.file_name}: sha256 {digest} does not start with the published "
                                f"{source.sha256_prefix}; the download was discarded")
    else:
        raise ChecksumError(f"no published hash for {source.file_name}, so it cannot be verified; pass the "
                            f"sha256 you trust with --sha256 (the file's sha256 was {digest})")


def download(url: str, target: Path, source: WeightsSource, expected_sha256: str | None = None,
             progress: bool | None = None, timeout: float = 60.0) -> Path:
    """Stream ``url`` into ``target``; the file appears only once complete and verified."""
    show = sys.stderr.isatty() if progress is None else progress
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, disable=not show,
                                              desc=source.file_name) as bar:
                while block := response.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
            if total is not None and tmp.stat().st_size != total:
                raise DownloadError(f"download of {url} stopped at {tmp.stat().st_size} of {total} bytes; "
                                    "nothing was saved, try again")
            check_digest(digest.hexdigest(), source, expected_sha256)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot download {url} ({reason}); are you offline? Download the file elsewhere "
                            f"and run `fanzoo weights import MODEL FILE`") from exc
    return target


def fetch(model: TaggedModel, fmt: str | None = None, expected_sha256: str | None = None,
          progress: bool | None = None, url: str | None = None):  # -> importer.Imported
    """Download (or reuse a verified earlier download) and import into the cache as ``model``'s tag."""
    from .importer import expected_shapes, read_any_weights, store_weights
    from .store import sha256_file

    source = choose_source(model.weights, fmt, expected_sha256)
    if url is not None:  # a mirror of the same file: the same hash rules apply
        source = WeightsSource(url, source.format, source.sha256, source.sha256_prefix, source.description)
    raw = downloads_dir() / source.file_name
    if raw.is_file():
        try:
            check_digest(sha256_file(raw), source, expected_sha256)
            log.info("reusing verified download %s", raw)
        except ChecksumError:
            raw.unlink()
    if not raw.is_file():
        download(source.url, raw, source, expected_sha256, progress)
    params, file_format = read_any_weights(raw, expected_shapes(model.spec), model.spec.name)
    # verified against this tag's own hash (or one the user vouched for): it is this tag's file
    return store_weights(model.spec, model.weights, params, raw, file_format, sha256_file(raw))
