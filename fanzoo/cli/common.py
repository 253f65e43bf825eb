"""Helpers shared by the subcommands: the --json rule, the --device option, lines that keep clear of progress bars.

The --json rule, the same on every command: ``--json FILE`` writes the command's result as JSON to FILE
(atomically: complete or not at all), and ``--json -`` writes it to standard output instead of the text.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


def precision_option(command):
    """``--precision``: fp32, int8 (a quantized artifact, made on first use) or bf16 (a backend's compute setting)."""
    from ..precision import PRECISIONS

    return click.option("--precision", type=click.Choice(PRECISIONS), default=None,
                        help="Numeric precision (default: the model's, see `fanzoo models`); int8 is quantized "
                             "once on first use.")(command)


def check_writable(path: Path, option: str, *, folder: bool) -> None:
    """Refuse, before any work, an output that cannot be written: a folder where a file is wanted (or the
    reverse), a path that runs through a file, or a place this user may not write into."""
    if path.exists() and path.is_dir() != folder:
        kind, wanted = ("a file", "a folder") if folder else ("a folder", "a file name")
        raise click.BadParameter(f"{path} is {kind}; give {wanted}", param_hint=option)
    base = path if folder and path.is_dir() else path.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise click.BadParameter(f"cannot create {path}: {base} is a file, not a folder", param_hint=option)
    if not os.access(base, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot write into {base} (permission denied, or a read-only file system)",
                                 param_hint=option)


def _check_json_target(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and value != "-":
        check_writable(Path(value), "--json", folder=False)
    return value


def json_option(help_text: str = "Write the result as JSON to FILE, or - for stdout.") -> Callable[[F], F]:
    return click.option("--json", "json_out", metavar="FILE|-", default=None, help=help_text,
                        callback=_check_json_target)


def emit_json(data: Any, target: str) -> None:
    """``data`` as JSON on stdout (target ``-``) or in a file, written atomically."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    if target == "-":
        click.echo(text, nl=False)
        return
    from ..atomic import atomic_write_text

    atomic_write_text(target, text)


def _check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not DEVICE_PATTERN.match(value):
        raise click.BadParameter(f"{value!r} is not a device: use cpu, cuda, or cuda:N for the GPU with index N")
    return value


def device_option(function: F) -> F:
    return click.option("--device", default="cpu", show_default=True, callback=_check_device, metavar="cpu|cuda[:N]",
                        help="Where the networks run; cuda:N picks a GPU by index.")(function)


def echo_line(text: str, err: bool = False) -> None:
    """One line of output that does not tear an active progress bar (tqdm clears and redraws it)."""
    if "tqdm" not in sys.modules:  # no bar was ever made (not a terminal): a plain line, without importing tqdm
        click.echo(text, err=err)
        return
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr if err else sys.stdout)


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
