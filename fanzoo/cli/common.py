"""Small helpers shared by the subcommands: JSON output, colours, progress bars only on a terminal."""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import click
from tqdm import tqdm


def use_color() -> bool | None:
    return False if os.environ.get("NO_COLOR") else None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def progress_bar(total: int, desc: str = "") -> tqdm:
    """A progress bar on stderr when it is a terminal; silent in pipes, logs and CI."""
    return tqdm(total=total, desc=desc, disable=not sys.stderr.isatty() or total <= 1, unit="img", leave=False)


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def detection_options(command):
    """--det-threshold, --det-size, --min-face, --max-faces: passed to the detector when they are given."""
    options = [
        click.option("--det-threshold", type=float, default=None, callback=_finite,
                     help="Detector score threshold (default per detector: centerface 0.5, dlib-hog 0.1)."),
        click.option("--det-size", type=click.IntRange(32, 8192), default=None,
                     help="Long side (pixels) that detection runs at; larger photos are reduced for it "
                          "(default: centerface 1280, dlib: none)."),
        click.option("--min-face", type=click.FloatRange(0), default=None,
                     help="Ignore faces whose box is narrower or lower than this many pixels."),
        click.option("--max-faces", type=click.IntRange(1), default=None, help="Keep only the largest N faces."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def detector_options(det_threshold: float | None, det_size: int | None, min_face: float | None,
                     max_faces: int | None) -> dict[str, Any]:
    """The detection options a user gave, as load_predictor's detector_options (the others keep their defaults)."""
    given = {"threshold": det_threshold, "size": det_size, "min_face": min_face, "max_faces": max_faces}
    return {name: value for name, value in given.items() if value is not None}
