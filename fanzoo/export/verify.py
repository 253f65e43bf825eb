"""Check an artifact before it is loaded: its path stays inside its folder, and its bytes match the sha256
in its manifest. A verified file is remembered by its state on disk, so the hash runs once per change.

The record lives in ``$FANZOO_HOME/verified-artifacts.json``. Its key is the file's resolved path with its
size, modification time, inode and inode change time: ``os.utime`` can restore a modification time, but
any write to the file also moves its change time, which no user call can set back. It is written only
when a check succeeds, so a failed run leaves the cache as it was.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path, PurePosixPath

from ..atomic import atomic_write_text
from ..errors import ArtifactError
from ..jsonparse import parse_json
from ..weights.store import home, sha256_file
from .manifest import MANIFEST, ArtifactEntry

log = logging.getLogger(__name__)

RECORD = "verified-artifacts.json"
MAX_RECORDS = 256  # oldest forgotten first; a forgotten file is simply hashed again


def artifact_path(folder: Path | str, entry: ArtifactEntry) -> Path:
    """``folder/entry.file``, refusing a name that is absolute, climbs out with "..", or resolves (through
    symlinks) to somewhere outside the folder."""
    folder = Path(folder)
    name = PurePosixPath(entry.file)
    if name.is_absolute() or Path(entry.file).is_absolute() or ".." in name.parts or "\\" in entry.file \
            or not name.parts:
        raise ArtifactError(f"{folder / MANIFEST} names the artifact {entry.file!r}, a path that leaves its folder; "
                            "refusing it (an artifact is a file inside the exported folder)")
    path = folder / name
    root = folder.resolve()
    resolved = path.resolve()
    if root not in resolved.parents:
        raise ArtifactError(f"{path} resolves to {resolved}, outside its folder {root}; refusing it")
    return path


def _state(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"


def _record_path() -> Path:
    return home() / RECORD


def _read_record() -> dict[str, list[str]]:
    try:
        data = parse_json(_record_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable record of verified artifacts %s (%s)", _record_path(), exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list) and len(v) == 2
            and all(isinstance(x, str) for x in v)}


# hashes computed in this process, written to the record only when an artifact check succeeds: a run that
# fails leaves $FANZOO_HOME exactly as it was
_pending: dict[str, list[str]] = {}
_lock = threading.Lock()  # predictors may be loaded from several threads


def _flush() -> None:
    with _lock:
        if not _pending:
            return
        fresh = dict(_pending)
        _pending.clear()
    record = _read_record()
    for key, value in fresh.items():
        record.pop(key, None)
        record[key] = value
    while len(record) > MAX_RECORDS:
        record.pop(next(iter(record)))
    try:
        atomic_write_text(_record_path(), json.dumps(record, indent=0) + "\n")
    except OSError as exc:  # a read-only home only costs a hash next time
        log.info("cannot record the verified artifact in %s: %s", _record_path(), exc)


def known_sha256(path: Path | str) -> str:
    """The file's sha256, hashed only when the file changed since it was last hashed here."""
    path = Path(path)
    key = str(path.resolve())
    state = _state(path)
    remembered = _pending.get(key) or _read_record().get(key)
    if remembered is not None and remembered[0] == state:
        return remembered[1]
    digest = sha256_file(path)
    if _state(path) == state:  # unchanged while it was hashed
        with _lock:
            _pending[key] = [state, digest]
    return digest


def verify_artifact(folder: Path | str, entry: ArtifactEntry) -> Path:
    """The artifact's path, once it is a regular file inside ``folder`` whose sha256 is the manifest's.

    :class:`ArtifactError` otherwise: the file is damaged or was replaced, and is never loaded.
    """
    path = artifact_path(folder, entry)
    if not path.is_file():
        raise ArtifactError(f"{path} is missing (listed in {Path(folder) / MANIFEST}); export the model again")
    try:
        actual = known_sha256(path)
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from None
    if actual != entry.sha256:
        with _lock:
            _pending.pop(str(path.resolve()), None)
        raise ArtifactError(f"{path} does not match the sha256 in {Path(folder) / MANIFEST} (damaged or replaced); "
                            f"delete {Path(folder)} and export it again (`fanzoo export`), or reinstall fanzoo "
                            "if it came with the package")
    _flush()
    return path
