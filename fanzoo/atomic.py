"""Atomic file and folder writes: a failure or interrupt leaves the old content, never a partial one."""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed over ``target``, else removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; the result should look like any new file
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(target: Path | str, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path | str, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


# A folder being written is ".<target>.<pid>@<host>.<random>.part" beside its target; a writer that was
# killed leaves it behind. It is stale once that process is gone from this host, or (for folders from
# another host, or older fanzoo versions that recorded no owner) once it is this old.
STALE_SECONDS = 24 * 3600
_RENAME_ATTEMPTS = 20


def host_tag() -> str:
    if hasattr(os, "uname"):  # the same name socket.gethostname() gives, without importing socket at every start
        name = os.uname().nodename
    else:
        import socket
        name = socket.gethostname()
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2 ** 31  # another user's live process; an impossible pid is no process
    return True


def _stale(path: Path, prefix: str, now: float) -> bool:
    owner = path.name[len(prefix):].split(".", 1)[0]
    pid, at, host = owner.partition("@")
    if at and pid.isdigit() and host == host_tag():
        return not _alive(int(pid))
    try:
        return now - path.lstat().st_mtime > STALE_SECONDS
    except OSError:
        return False


def remove_stale_parts(target: Path | str) -> None:
    """Remove what killed writers of ``target`` left beside it (``.part`` and ``.old`` folders)."""
    target = Path(target)
    prefix = f".{target.name}."
    now = time.time()
    try:
        leftovers = [p for p in target.parent.iterdir() if p.name.startswith(prefix)
                     and p.name.endswith((".part", ".old")) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return
    for path in leftovers:
        if _stale(path, prefix, now):
            log.info("removing %s, left by an interrupted write", path)
            shutil.rmtree(path, ignore_errors=True)


def _install(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``, moving aside whatever is there (it may appear at any moment: another
    process can install the same target concurrently; the last rename wins, whole)."""
    old: Path | None = None
    try:
        for attempt in range(_RENAME_ATTEMPTS):
            try:
                os.replace(tmp, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                    raise
            if old is None:
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}@{host_tag()}.",
                                            suffix=".old", dir=target.parent))
            try:
                os.replace(target, old / f"previous{attempt}")
            except FileNotFoundError:  # another writer moved it first
                pass
        raise OSError(errno.EBUSY, f"cannot install {target}: it keeps being replaced by other writers")
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a fresh folder beside ``target``; on success it replaces ``target`` as a whole.

    The old folder is moved aside first and deleted only after the new one is in place, so a crash
    between the two renames leaves one of them complete. Folders left by killed writers are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}@{host_tag()}.", suffix=".part",
                                dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        _install(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
