"""ONNX Runtime's optimized graph, saved once and loaded next time: a shorter start for every later process.

ONNX Runtime can write the graph it optimized (fusions, NCHWc layouts) and load that instead of optimizing
again, with the weights in a file of their own that it maps into memory instead of reading: FAN-4's session
then opens in about a quarter of the time. Such a graph is only valid for the same artifact, ONNX Runtime
version, provider and CPU, so its folder's name carries all four. It lives beside the artifact in
``.ort-cache/`` (in ``$FANZOO_HOME/ort-cache`` for the package's own artifacts and where that folder is
read-only), is written into a temporary folder that is renamed into place, and replaces the older entries of
the same artifact.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
from functools import cache
from pathlib import Path

from fanzoo.jsonparse import parse_json

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
    # here, not at the top: the plugin is imported by every fanzoo command; a session load has it already
    from fanzoo.export.manifest import SHA256_HEX

    stat = path.stat()
    identity = [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev]
    memo = _folder(path) / f"{path.name}.sha256.json"
    try:
        data = parse_json(memo.read_text())
        sha = data.get("identity") == identity and data.get("sha256") if isinstance(data, dict) else None
        if isinstance(sha, str) and SHA256_HEX.fullmatch(sha):
            return sha  # it names the cache folder: nothing but a digest may pass
    except (OSError, ValueError):
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


GRAPH = "graph.onnx"
WEIGHTS = "graph.onnx.data"  # the initializers, beside the graph: ONNX Runtime maps them instead of reading them
STAMP = "stamp.json"


def entry(artifact: Path, ort_version: str, provider: str) -> Path:
    """The folder of ``artifact``'s optimized graph (it may not exist yet)."""
    sha = artifact_sha256(artifact)
    return _folder(artifact) / f"{artifact.name}.{sha[:16]}.ort{ort_version}.{provider}.{_machine()}"


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def usable(folder: Path) -> Path | None:
    """The graph of a cache entry whose files are exactly as they were written, else None.

    The weights are memory-mapped, so a file changed or cut short after it was written must never be loaded:
    the stamp holds each file's size, mtime, inode and ctime (any write moves the ctime, which no call can set).
    """
    try:
        stamp = parse_json((folder / STAMP).read_text())
        files = stamp["files"]
        if not isinstance(files, dict) or GRAPH not in files:
            return None
        if all(_identity(folder / name) == value for name, value in files.items()):
            return folder / GRAPH
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def session_options(options, folder: Path) -> Path:
    """Ask ONNX Runtime to save its optimized graph, with the weights in a file of their own, into ``folder``;
    returns the graph's path there."""
    options.optimized_model_filepath = str(folder / GRAPH)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    return folder / GRAPH


def temporary_folder(final: Path) -> Path:
    """A fresh folder beside ``final`` for ONNX Runtime to write into; ``publish`` renames it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))


def discard(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def publish(tmp: Path, final: Path, artifact: Path) -> None:
    """Stamp a written entry, rename it into place, and remove the artifact's older entries."""
    if not (tmp / GRAPH).is_file() or (tmp / GRAPH).stat().st_size == 0:
        discard(tmp)
        return
    files = {p.name: _identity(p) for p in tmp.iterdir() if p.name != STAMP}
    _write_atomic(tmp / STAMP, json.dumps({"artifact": artifact.name, "files": files}).encode())
    discard(final)  # a damaged entry of the same key, if any
    try:
        os.replace(tmp, final)
    except OSError:  # another process published the same entry first
        discard(tmp)
        return
    for old in final.parent.glob(f"{artifact.name}.*"):
        if old != final and not old.name.endswith(".sha256.json"):
            discard(old) if old.is_dir() else old.unlink(missing_ok=True)
    log.debug("saved ONNX Runtime's optimized graph to %s", final)


def _write_atomic(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
