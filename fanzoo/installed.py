"""What is installed (the fanzoo entry points, distributions' versions), remembered between processes.

Asking importlib.metadata means importing it (with email, zipfile and csv) and reading distributions' metadata
from every folder on sys.path: about 45 ms of a `fanzoo predict` on one face with the small model, which took
0.55 s in all on a 2-core AMD EPYC (medians of alternating runs). So each answer is kept under a fingerprint of
everything an install or uninstall changes: the interpreter, sys.path, and every ``*.dist-info`` or
``*.egg-info`` on it, with its time and its ``entry_points.txt``'s time and size. pip adds, removes or rewrites
those, so any install changes the fingerprint and the next process asks importlib.metadata again.

The answers describe the installation, so they live in it: ``installed.json`` in fanzoo's own ``__pycache__``
folder, beside its bytecode (where an install is read-only, nothing is kept and every process asks). Not in
$FANZOO_HOME, which holds only what the user fetched or made, and which a failed command leaves as it was.
``FANZOO_INSTALLED_CACHE=0`` always asks, ``=PATH`` keeps the answers in that file; an interpreter with a
meta-path finder of its own that can report distributions (a zipapp, say) always asks too, as the fingerprint
cannot see its changes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .jsonparse import parse_json

log = logging.getLogger(__name__)

CACHE_ENV = "FANZOO_INSTALLED_CACHE"
CACHE_FILE = "installed.json"
KEPT_FINGERPRINTS = 8  # several interpreters and venvs may share one fanzoo source tree (editable installs)
METADATA_SUFFIXES = (".dist-info", ".egg-info")
# "module.sub:attr.attr" with optional extras, as the entry-point specification allows
VALUE = re.compile(r"(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+)\s*)?(?:\[[^\]]*\]\s*)?")


@dataclass(frozen=True)
class FoundEntryPoint:
    name: str
    value: str
    distribution: str | None  # its metadata's Name
    version: str | None

    def load(self) -> Any:
        """Import the module and fetch the attribute the value names (as importlib.metadata's EntryPoint)."""
        import importlib

        match = VALUE.fullmatch(self.value)
        if match is None:
            raise ValueError(f"not an entry point: {self.value!r}")
        target = importlib.import_module(match["module"])
        for attr in filter(None, (match["attr"] or "").split(".")):
            target = getattr(target, attr)
        return target


def entry_points(group: str) -> list[FoundEntryPoint]:
    """The group's entry points in every installed distribution."""
    found = _remembered("entry_points", group, lambda: [asdict(p) for p in _scan_entry_points(group)])
    return [_entry_point(item) for item in found]


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (any spelling of its name), or None when it is not installed."""
    return _remembered("versions", canonical(distribution), lambda: _ask_version(distribution))


def _scan_entry_points(group: str) -> list[FoundEntryPoint]:
    import importlib.metadata

    out = []
    for point in importlib.metadata.entry_points(group=group):
        dist = getattr(point, "dist", None)
        out.append(FoundEntryPoint(point.name, point.value, dist.metadata["Name"] if dist is not None else None,
                                   dist.version if dist is not None else None))
    return out


def _ask_version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _remembered(field: str, name: str, ask: Callable[[], Any]) -> Any:
    """The answer kept for this fingerprint, or ``ask()``'s, kept for the next process."""
    path = _cache_path()
    key = _fingerprint() if path is not None else None
    if key is None:
        return ask()
    scans = _read(path)
    answers = scans.pop(key, {})
    if name in answers.get(field, {}):
        return answers[field][name]
    value = answers.setdefault(field, {})[name] = ask()
    scans[key] = answers  # last: the most recently used fingerprints are the ones kept
    _write(path, dict(list(scans.items())[-KEPT_FINGERPRINTS:]))
    return value


def _fingerprint() -> str | None:
    """A digest of what decides what is installed; None when something outside sys.path can add to it."""
    from importlib.machinery import PathFinder

    if any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path):
        return None
    parts: list[Any] = [sys.executable, sys.version, sys.prefix]
    for entry in sys.path:
        folder = os.path.abspath(os.fsdecode(entry) or os.curdir)
        parts.append(folder)
        try:
            stat = os.stat(folder)
            if not os.path.isdir(folder):  # a zip file: its time says enough
                parts.append(stat.st_mtime_ns)
                continue
            # not the folder's own time: the working directory is on sys.path too, and changes with every output
            infos = _metadata_folders(folder, stat.st_mtime_ns)
        except OSError:
            parts.append(None)
            continue
        for info in infos:
            parts.append(info)
            for path in (os.path.join(folder, info), os.path.join(folder, info, "entry_points.txt")):
                try:
                    stat = os.stat(path)
                    parts.append((stat.st_mtime_ns, stat.st_size))
                except OSError:
                    parts.append(None)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


# folder -> (its mtime, its metadata folders): the working directory on sys.path may hold many thousand photos
_listed: dict[str, tuple[int, list[str]]] = {}
SETTLED_NS = 2_000_000_000  # a folder changed this recently may change again within its clock's tick: list it


def _metadata_folders(folder: str, mtime_ns: int) -> list[str]:
    """The ``*.dist-info`` and ``*.egg-info`` names in ``folder``, listed once per process while it is unchanged."""
    known = _listed.get(folder)
    if known is not None and known[0] == mtime_ns and time.time_ns() - mtime_ns > SETTLED_NS:
        return known[1]
    with os.scandir(folder) as entries:
        infos = sorted(e.name for e in entries if e.name.endswith(METADATA_SUFFIXES))
    _listed[folder] = (mtime_ns, infos)
    return infos


def _cache_path() -> Path | None:
    setting = os.environ.get(CACHE_ENV, "")
    if setting == "0":
        return None
    return Path(setting) if setting else Path(__file__).resolve().parent / "__pycache__" / CACHE_FILE


def _read(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The kept answers by fingerprint; a file that is unreadable or malformed counts as none."""
    try:
        raw = parse_json(path.read_text(encoding="utf-8"))
        scans = raw["scans"]
        for answers in scans.values():  # checked here, so that a bad entry never reaches a caller
            for points in (answers.get("entry_points") or {}).values():
                for point in points:
                    _entry_point(point)
            if not all(isinstance(v, (str, type(None))) for v in (answers.get("versions") or {}).values()):
                raise ValueError("a version that is not a string")
        return dict(scans)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("cache of installed distributions %s ignored: %s", path, exc)
        return {}


def _entry_point(item: Any) -> FoundEntryPoint:
    point = FoundEntryPoint(**item)
    if not (isinstance(point.name, str) and isinstance(point.value, str) and VALUE.fullmatch(point.value)
            and all(isinstance(v, (str, type(None))) for v in (point.distribution, point.version))):
        raise ValueError(f"malformed entry point {item!r}")
    return point


def _write(path: Path, scans: dict[str, Any]) -> None:
    """Best effort: a read-only install or a full disk only means that the next process asks again."""
    from .atomic import atomic_write_text

    try:
        atomic_write_text(path, json.dumps({"scans": scans}, indent=1) + "\n")
    except OSError as exc:
        log.debug("cache of installed distributions not written to %s: %s", path, exc)
