"""`fanzoo predict --engine ray`: the command-line front door of :func:`fanzoo.scale.engine.align_on_ray`."""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from ..cli.common import echo_line
from ..detection import FaceBox
from .job import AlignJob

# options of the single-process command that write per-image files; the Ray engine writes Parquet instead
LOCAL_ONLY = {"--json": "json_out", "--output": "output", "--pts": "pts_dir"}


def run_ray_command(inputs: Sequence[str], results: Path | None, address: str | None, *, model: str | None,
                    backend: str | None, device: str, detector: str | None, detection: Mapping[str, object],
                    boxes: Sequence[FaceBox], boxes_by_name: Mapping[str, Sequence[FaceBox]] | None, flip: bool,
                    artifacts: Path | None, recursive: bool, batch_size: int | None, threads: int | None,
                    precision: str | None = None, boxes_source: Path | None = None, **local_only: object) -> None:
    """Run the job, print failures and a summary; exit 1 when some image failed, as the local engine does."""
    from .. import api
    from .engine import align_on_ray

    used = [flag for flag, name in LOCAL_ONLY.items() if local_only.get(name) is not None]
    if used:
        raise click.UsageError(f"{', '.join(used)} write per-image files and work with --engine local only; "
                               "--engine ray writes Parquet shards to --results DIR")
    if results is None:
        raise click.UsageError("--engine ray needs --results DIR (Parquet shards; a rerun skips the images there)")
    if (boxes or boxes_by_name is not None) and detector:
        raise click.UsageError("--box and --boxes-json replace the detector; drop --detector")
    job = AlignJob.with_boxes(boxes, boxes_by_name, detection, boxes_source, model=model or api.DEFAULT_MODEL,
                              backend=backend, precision=precision, device=device,
                              detector=detector or api.DEFAULT_DETECTOR, flip=flip, artifacts=artifacts,
                              threads=threads or 1, batch_size=batch_size)
    summary = align_on_ray(inputs, results, job, address=address, recursive=recursive, progress=True,
                           on_failure=lambda path, error: echo_line(f"error: {path}: {error}", err=True),
                           announce=lambda message: click.echo(message, err=True))
    echo_line(f"{summary.processed} images aligned into {results} ({len(summary.shards)} new shards), "
              f"{summary.skipped} of {summary.images} already there and skipped")
    if summary.failed:
        echo_line(f"{summary.failed} of {summary.processed} files failed (rows with an error in {results})", err=True)
        sys.exit(1)
