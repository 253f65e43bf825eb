"""Small helpers shared by the subcommands: JSON output, colours, progress bars only on a terminal."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

import click


def precision_option(command):
    """``--precision``: fp32, int8 (a quantized artifact, made on first use) or bf16 (a backend's compute setting)."""
    from ..precision import PRECISIONS

    return click.option("--precision", type=click.Choice(PRECISIONS), default=None,
                        help="Numeric precision (default: the model's, see `fanzoo models`); int8 is quantized "
                             "once on first use.")(command)


def use_color() -> bool | None:
    return False if os.environ.get("NO_COLOR") else None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def progress_bar(total: int, desc: str = ""):
    """A progress bar on stderr when it is a terminal; silent in pipes, logs and CI."""
    from tqdm import tqdm  # imported here: it pulls importlib.metadata and more, a cost every command paid

    return tqdm(total=total, desc=desc, disable=not sys.stderr.isatty() or total <= 1, unit="img", leave=False)


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
