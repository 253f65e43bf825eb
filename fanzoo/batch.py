"""The batch engine: files and folders in, one result per image file out, in order, with bounded memory.

One bad file never stops the batch: it becomes a result with ``error`` set. The CLI, `evaluate`, the
examples and the scale-out paths all iterate over :func:`predict_paths` instead of keeping loops of their own.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
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


class ImageReader:
    """The files' decoded chunks, read by a thread of its own one chunk ahead of the caller.

    Decoding releases the GIL, so the next chunk is decoded while the caller runs the network on this one (24
    copies of a 2560x2560 PNG of 24 faces, three chunks, 2dfan-lite with given boxes: a `fanzoo predict`
    process took 8.8 s against 9.5 s, medians of 5 alternating runs on a 2-core Xeon, 2026-12-03). A reader
    made before the predictor decodes the first chunk while the predictor loads; ONNX Runtime holds the GIL
    while it creates a session, so only a decode that has already begun runs beside it. `fanzoo predict`
    therefore makes its reader before it even imports the API: for that one large PNG and FAN-4, the first
    network run came at a median 551 ms against 616 ms (25 alternating processes, 2026-12-03).
    At most two chunks are held at once (the caller's and the next), so memory stays bounded by two chunks
    (each closes at CHUNK_IMAGES files or once it reaches CHUNK_PIXELS). Use it as an iterator, once;
    :meth:`close` (or the end of the iteration) stops the thread after the chunk it is decoding.
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self._chunks = _chunks(iter(paths))
        self._closed = False
        self._start()

    def _start(self) -> None:
        # a thread a chunk (a chunk takes milliseconds to seconds to decode; a thread starts in microseconds), and
        # not concurrent.futures, whose import alone would cost every `fanzoo predict` a few milliseconds
        self._chunk: list[tuple[Path, PreparedImage | PathResult]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="fanzoo-read")
        self._thread.start()

    def _read(self) -> None:
        try:
            self._chunk = next(self._chunks, None)
        except BaseException as exc:  # raised again in the caller's thread, which reports it
            self._error = exc

    def __iter__(self) -> Iterator[list[tuple[Path, PreparedImage | PathResult]]]:
        try:
            while True:
                self._thread.join()
                if self._error is not None:
                    raise self._error
                chunk = self._chunk
                if chunk is None or self._closed:
                    return
                self._start()
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Stop after the chunk being decoded (never cut off in the middle of a file)."""
        self._closed = True
        self._thread.join()

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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
    yield from predict_read(predictor, ImageReader(paths), len(paths), progress=progress, boxes=boxes)


def predict_read(predictor: Predictor, reader: ImageReader, files: int, *, progress: bool = False,
                 boxes: Callable[[Path], BoxesLike | None] | None = None) -> Iterator[PathResult]:
    """:func:`predict_paths` on the chunks of a reader the caller made (before its predictor, say) of ``files``
    files; the reader is closed at the end."""
    bar = None
    if progress and files > 1 and sys.stderr.isatty():
        from tqdm import tqdm  # only for a bar that shows: importing tqdm is a start-up cost of its own

        # the bar goes to stderr and only on a terminal; lines a caller prints through tqdm.write stay clear of it
        bar = tqdm(total=files, desc="predict", unit="img", leave=False)
    try:
        for chunk in reader:
            for result in _predict_chunk(predictor, chunk, boxes):
                if bar is not None:
                    bar.update(1)
                yield result
    finally:
        reader.close()
        if bar is not None:
            bar.close()
