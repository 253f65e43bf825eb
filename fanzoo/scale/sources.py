"""The images of a scale-out job: folders, file lists (.txt) and globs, as absolute paths, each once."""
from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..batch import expand_paths
from ..errors import InputError
from ..pts import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

# a file with one of these suffixes lists images, one path a line (never an image itself)
LIST_SUFFIXES = (".txt", ".lst")


def _absolute(path: Path | str) -> str:
    # absolute but not resolved: symlinked dataset layouts keep their names, and a rerun from another
    # working directory still recognises the finished images
    return os.path.abspath(path)


def read_file_list(path: Path) -> Iterator[str]:
    """Paths listed in a text file, one a line; blank lines and lines starting with # are skipped.
    Relative paths are relative to the list's folder, so a list can travel with its dataset."""
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    yield _absolute(path.parent / entry)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file list {path}: {exc}") from exc


def _glob(pattern: str) -> Iterator[str]:
    matches = sorted(glob.glob(pattern, recursive=True))
    images = [m for m in matches if Path(m).suffix.lower() in IMAGE_SUFFIXES and os.path.isfile(m)]
    if not images:
        raise InputError(f"no image files match {pattern!r}" + (f" ({len(matches)} other paths do)" if matches else ""))
    yield from (_absolute(m) for m in images)


def expand_inputs(inputs: Iterable[str | Path], recursive: bool = False) -> list[str]:
    """Every image of ``inputs`` once, in order of first mention.

    A folder gives its images (with ``recursive``, those of its subfolders too); a ``.txt`` or ``.lst`` file
    lists paths; a pattern with ``*``, ``?`` or ``[`` that is not an existing path is a glob (``**`` crosses
    folders) and gives the image files it matches; anything else is taken as an image file (a missing one
    becomes an error row, as in the single-process CLI).
    """
    seen: dict[str, None] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = (_absolute(p) for p in expand_paths([path], recursive))
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            found = read_file_list(path)
        elif glob.has_magic(str(item)) and not path.exists():
            found = _glob(str(item))
        else:
            found = iter([_absolute(path)])
        for entry in found:
            seen.setdefault(entry, None)
    if not seen:
        raise InputError("no input images")
    return list(seen)
