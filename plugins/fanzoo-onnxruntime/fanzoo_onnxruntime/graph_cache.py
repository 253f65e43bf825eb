"""ONNX Runtime's optimized graph, saved once and loaded next time: a shorter start for every later process.

ONNX Runtime can write the graph it optimized (fusions, NCHWc layouts) and load that instead of optimizing
again. Such a file is only valid for the same artifact, ONNX Runtime version, provider and CPU, so its name
carries all four. It lives beside the artifact in ``.ort-cache/`` (or in ``$FANZOO_HOME/ort-cache`` for the
package's own artifacts and where that folder is read-only), is written atomically, and replaces older files of the same artifact.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

DISABLE_ENV = "FANZOO_ORT_CACHE"  # "0" turns the cache off (to measure a cold start, say)
FOLDER = ".ort-cache"


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "1") != "0"


@cache
def _machine() -> str:
    """What an NCHWc-optimized graph depends on besides ONNX Runtime: the CPU model and its instruction sets."""
    facts = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                facts += line
            if line.startswith("flags"):
                break
    except OSError:
        facts += platform.processor()
    return hashlib.sha256(facts.encode()).hexdigest()[:8]


def artifact_sha256(path: Path) -> str:
    """The artifact's sha256, computed once and remembered beside the cache against the file's identity (size,
    mtime, inode), so an unchanged 95 MB model is not read again at every start."""
    stat = path.stat()
    identity = [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev]
    memo = _folder(path) / f"{path.name}.sha256.json"
    try:
        data = json.loads(memo.read_text())
        if data.get("identity") == identity:
            return str(data["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    sha = digest.hexdigest()
    _write_atomic(memo, json.dumps({"identity": identity, "sha256": sha}).encode())
    return sha


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _folder(artifact: Path) -> Path:
    import fanzoo
    from fanzoo.weights.store import home

    package = Path(fanzoo.__file__).resolve().parent
    beside = artifact.parent / FOLDER
    # never inside the installed package (an uninstall would leave the files behind)
    if package not in artifact.resolve().parents and _writable(beside):
        return beside

    key = hashlib.sha256(str(artifact.resolve().parent).encode()).hexdigest()[:12]
    return home() / "ort-cache" / key


def cached_graph(artifact: Path, ort_version: str, provider: str) -> Path:
    """Where the optimized graph of ``artifact`` lives (it may not exist yet)."""
    sha = artifact_sha256(artifact)
    return _folder(artifact) / f"{artifact.name}.{sha[:16]}.ort{ort_version}.{provider}.{_machine()}.onnx"


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def temporary_target(final: Path) -> Path:
    """A fresh path beside ``final`` for ONNX Runtime to write into; ``publish`` renames it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, final: Path, artifact: Path) -> None:
    """Move a written graph into place and remove the artifact's older cached graphs."""
    if not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, final)
    for old in final.parent.glob(f"{artifact.name}.*.onnx"):
        if old != final:
            old.unlink(missing_ok=True)
    log.debug("saved ONNX Runtime's optimized graph to %s", final)
