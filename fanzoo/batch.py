"""The batch engine: files and folders in, one result per image file out, in order, with bounded memory.

One bad file never stops the batch: it becomes a result with ``error`` set. The CLI, `evaluate`, the
examples and the scale-out paths all iterate over :func:`predict_paths` instead of keeping loops of their own.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import FanzooError, InputError, describe_failure
from .pts import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from .inputs import PreparedImage
    from .predictor import BoxesLike, Face, Predictor

log = logging.getLogger(__name__)

# Images decoded and batched together. The pixel budget keeps a chunk of huge photos (each up to
# imageio.MAX_PIXELS) from holding gigabytes at once: a chunk closes at whichever limit comes first.
CHUNK_IMAGES = 8
CHUNK_PIXELS = 60_000_000


@dataclass(frozen=True)
class PathResult:
    """What became of one file: its faces, or the reason it failed (then ``faces`` is empty)."""

    path: Path
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    width: int = 0  # of the image as stored in the file (0 when it could not be read)
    height: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def expand_paths(inputs: Iterable[str | Path] | str | Path, recursive: bool = False) -> Iterator[Path]:
    """Files as given (a missing one too: it becomes an error result); folders expand to their image files,
    sorted, and with ``recursive`` to those of every subfolder, depth first in name order."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            yield path
            continue
        found = 0
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith(".")) if recursive else []
            for name in sorted(files):
                candidate = Path(folder) / name
                if _is_image(candidate):
                    found += 1
                    yield candidate
        if not found:
            hint = "" if recursive else " (its subfolders were not searched: add -r / recursive=True)"
            log.warning("no images in folder %s%s", path, hint)


def _load(path: Path) -> PreparedImage:
    from .inputs import prepare_image

    return prepare_image(path)


def _chunks(paths: Iterator[Path]) -> Iterator[list[tuple[Path, PreparedImage | PathResult]]]:
    """Decoded images (or failure results) a few at a time."""
    chunk: list[tuple[Path, PreparedImage | PathResult]] = []
    pixels = 0
    for path in paths:
        try:
            image = _load(path)
            pixels += image.rgb.shape[0] * image.rgb.shape[1]
            chunk.append((path, image))
        except (FanzooError, OSError, MemoryError) as exc:
            chunk.append((path, PathResult(path, error=describe_failure(exc))))
        if len(chunk) >= CHUNK_IMAGES or pixels >= CHUNK_PIXELS:
            yield chunk
            chunk, pixels = [], 0
    if chunk:
        yield chunk


def _predict_chunk(predictor: Predictor, chunk: list[tuple[Path, PreparedImage | PathResult]],
                   boxes: Callable[[Path], BoxesLike | None] | None) -> list[PathResult]:
    from .inputs import PreparedImage

    loaded = [(path, image) for path, image in chunk if isinstance(image, PreparedImage)]
    faces: dict[Path, list[Face] | str] = {}
    try:
        given = [boxes(path) if boxes is not None else None for path, _ in loaded]
        together = predictor.predict_prepared([image for _, image in loaded], given)
        faces.update({path: f for (path, _), f in zip(loaded, together)})
    except (FanzooError, MemoryError):
        # find the culprit: the images one by one, so one bad file costs only itself
        for path, image in loaded:
            try:
                given_one = boxes(path) if boxes is not None else None
                faces[path] = predictor.predict_prepared([image], [given_one])[0]
            except (FanzooError, MemoryError) as exc:
                faces[path] = describe_failure(exc)
    results = []
    for path, image in chunk:
        if isinstance(image, PathResult):
            results.append(image)
            continue
        width, height = image.original_size
        outcome = faces[path]
        if isinstance(outcome, str):
            results.append(PathResult(path, error=outcome, width=width, height=height))
        else:
            results.append(PathResult(path, outcome, None, width, height))
    return results


def predict_paths(predictor: Predictor, inputs: Iterable[str | Path] | str | Path, *, recursive: bool = False,
                  progress: bool = False, boxes: Callable[[Path], BoxesLike | None] | None = None
                  ) -> Iterator[PathResult]:
    """See :meth:`fanzoo.predictor.Predictor.predict_paths`."""
    paths = list(expand_paths(inputs, recursive))
    if not paths:
        raise InputError("no input images")
    bar = None
    if progress and len(paths) > 1 and sys.stderr.isatty():
        from tqdm import tqdm  # only for a bar that shows: importing tqdm is a start-up cost of its own

        # the bar goes to stderr and only on a terminal; lines a caller prints through tqdm.write stay clear of it
        bar = tqdm(total=len(paths), desc="predict", unit="img", leave=False)
    try:
        for chunk in _chunks(iter(paths)):
            for result in _predict_chunk(predictor, chunk, boxes):
                if bar is not None:
                    bar.update(1)
                yield result
    finally:
        if bar is not None:
            bar.close()
