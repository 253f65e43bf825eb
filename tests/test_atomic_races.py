"""Folders written atomically: leftovers of killed writers are cleaned, and concurrent writers of the same new
folder both succeed (the last one's content wins, whole)."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

from fanzoo.atomic import atomic_dir


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_part_folders_of_killed_writers_are_removed(tmp_path: Path) -> None:
    import socket

    from fanzoo import atomic

    host = atomic.host_tag()
    stale = [tmp_path / f".exported.{dead_pid()}@{host}.abc123.part",  # its writer is gone
             tmp_path / ".exported.oldstyle.part",  # no owner recorded, two days old
             tmp_path / f".exported.{dead_pid()}@{host}.def456.old"]
    kept = [tmp_path / f".exported.{os.getpid()}@{host}.xyz.part",  # a live writer (this process)
            tmp_path / ".exported.fresh.part",  # no owner recorded, written a minute ago
            tmp_path / f".exported.{dead_pid()}@other-{socket.gethostname()}.x.part",  # another machine's, recent
            tmp_path / ".other.1@x.part"]  # another target's
    for folder in stale + kept:
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale[1], (two_days_ago, two_days_ago))
    with atomic_dir(tmp_path / "exported") as tmp:
        (tmp / "model.onnx").write_bytes(b"complete")
    assert (tmp_path / "exported" / "model.onnx").read_bytes() == b"complete"
    assert not any(p.exists() for p in stale), [p.name for p in stale if p.exists()]
    assert all(p.exists() for p in kept)


def _write(target: str, content: str, barrier, delay: float) -> None:
    """Write a folder; ``delay`` holds back the rename that installs it (the check for an existing target
    has run by then), so that the other writer's rename lands in between, as it can in a real race."""
    if delay:
        rename = os.replace

        def delayed(src, dst):
            if str(src).endswith(".part"):
                time.sleep(delay)
            return rename(src, dst)

        os.replace = delayed  # in this child process only
    with atomic_dir(target) as tmp:
        (tmp / "model.onnx").write_text(content)
        (tmp / "MANIFEST.json").write_text(content)
        barrier.wait(timeout=30)  # both writers finish together


def test_two_processes_renaming_into_the_same_new_folder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("forkserver")  # no fork of a process that may run threads
    for round_, delays in enumerate([(1.0, 2.0), (2.0, 1.0), (0, 0), (0, 0), (0, 0)]):
        target = tmp_path / f"out{round_}" / "2dfan1"
        barrier = ctx.Barrier(2)
        writers = [ctx.Process(target=_write, args=(str(target), name, barrier, delay))
                   for name, delay in zip("ab", delays)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(60)
        assert [w.exitcode for w in writers] == [0, 0], f"round {round_}: a writer failed"
        content = {p.name: p.read_text() for p in target.iterdir()}
        assert content in ({"model.onnx": "a", "MANIFEST.json": "a"}, {"model.onnx": "b", "MANIFEST.json": "b"})
        if delays[0]:  # the later rename wins
            assert content["model.onnx"] == "ab"[delays.index(max(delays))]
        assert sorted(p.name for p in target.parent.iterdir()) == ["2dfan1"]  # nothing left beside it
