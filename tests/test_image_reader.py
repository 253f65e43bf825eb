"""The batch engine's reader: decoding in a thread of its own, one chunk ahead, in order, bounded, and stopped."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fanzoo import batch
from fanzoo.batch import CHUNK_IMAGES, ImageReader, PathResult
from fanzoo.errors import InputError

from .conftest import ROOT

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"


def readers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fanzoo-read" and t.is_alive()]


def test_chunks_come_in_order_with_failures_in_place(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    paths = [ASTRONAUT, bad, tmp_path / "missing.png", ASTRONAUT] * 5
    seen = [path for chunk in ImageReader(paths) for path, _ in chunk]
    assert seen == paths
    chunks = list(ImageReader(paths))
    assert [len(c) for c in chunks] == [CHUNK_IMAGES, CHUNK_IMAGES, len(paths) - 2 * CHUNK_IMAGES]
    failed = [item for chunk in chunks for _, item in chunk if isinstance(item, PathResult)]
    assert len(failed) == 10 and all(f.error for f in failed)
    assert not readers_alive()


def test_the_reader_is_at_most_one_chunk_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded: while the caller holds chunk i, only chunk i + 1 may be decoded beside it."""
    loaded: list[Path] = []
    real = batch._load
    monkeypatch.setattr(batch, "_load", lambda path: (loaded.append(path), real(path))[1])
    paths = [ASTRONAUT] * (4 * CHUNK_IMAGES)
    for i, _chunk in enumerate(ImageReader(paths)):
        time.sleep(0.05)  # a slow caller: the reader runs as far ahead as it is allowed to
        assert len(loaded) <= (i + 2) * CHUNK_IMAGES
    assert len(loaded) == len(paths)


def test_an_unexpected_error_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in decoding is raised in the caller's thread, not lost in the reader's."""
    def broken(path: Path):
        raise RuntimeError("a bug")
    monkeypatch.setattr(batch, "_load", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        list(ImageReader([ASTRONAUT]))
    assert not readers_alive()


def test_a_user_error_is_a_result_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = batch._load

    def picky(path: Path):
        if path.name == "second.jpg":
            raise InputError(f"{path}: refused")
        return real(path)
    monkeypatch.setattr(batch, "_load", picky)
    (chunk,) = list(ImageReader([ASTRONAUT, Path("second.jpg"), ASTRONAUT]))
    assert [isinstance(item, PathResult) for _, item in chunk] == [False, True, False]


def test_stopping_early_stops_the_thread() -> None:
    paths = [ASTRONAUT] * (6 * CHUNK_IMAGES)
    with ImageReader(paths) as reader:
        for _chunk in reader:
            break
    assert not readers_alive()
    unused = ImageReader(paths)  # made, never read: closing it is enough
    unused.close()
    assert not readers_alive()
