"""Learning curves: a run folder's log.jsonl drawn as validation NME and learning rate against iteration.

`fanzoo train` redraws ``curve.png`` in the run folder after every validation (when matplotlib is installed),
so a run in progress can be looked at, and a model card can show the curve of the run that made its weights:

    python -m fanzoo.training.curve training_runs/2dfan-lite-v2 training_runs/2dfan-lite -o curve.png
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import click

from ..atomic import atomic_path
from ..errors import InputError
from ..jsonparse import parse_json

log = logging.getLogger(__name__)

CURVE = "curve.png"
_told = False  # redraw says once per process that matplotlib is missing


def validation_rows(log_path: Path) -> list[dict]:
    """The rows of a log.jsonl that carry a validation NME, in file order; a damaged line is an InputError that
    names it (a log is written by appending, so a cut-off last line is the usual damage)."""
    rows = []
    try:
        text = Path(log_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{log_path}: no such training log (a run folder has log.jsonl after its first "
                         "validation)") from None
    except UnicodeDecodeError:
        raise InputError(f"{log_path}: not a training log (not UTF-8 text)") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except ValueError:
            raise InputError(f"{log_path}, line {number}: not JSON") from None
        if not isinstance(row, dict) or "val_nme" not in row:
            continue
        try:
            iteration, nme, lr = int(row["iteration"]), float(row["val_nme"]), float(row.get("lr", math.nan))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{log_path}, line {number}: a validation row needs a numeric iteration and "
                             "val_nme") from None
        if iteration < 0 or not math.isfinite(nme):
            raise InputError(f"{log_path}, line {number}: iteration {iteration}, val_nme {nme} out of range")
        rows.append({"iteration": iteration, "val_nme": nme, "lr": lr})
    return rows


def plot_learning_curves(runs: Mapping[str, Path], out: Path) -> None:
    """Draw each run's (label -> log.jsonl) validation NME, its best point marked, above its learning rate."""
    curves = {label: validation_rows(path) for label, path in runs.items()}
    if not any(curves.values()):
        raise InputError("no validation rows to draw in " + ", ".join(str(p) for p in runs.values()))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), dpi=100, sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    for label, rows in curves.items():
        if not rows:
            continue
        xs = [r["iteration"] for r in rows]
        line, = top.plot(xs, [100 * r["val_nme"] for r in rows], marker=".", label=label)
        best = min(rows, key=lambda r: r["val_nme"])
        top.annotate(f"{100 * best['val_nme']:.2f}%", (best["iteration"], 100 * best["val_nme"]),
                     textcoords="offset points", xytext=(0, -14), ha="center", color=line.get_color())
        rates = [(x, r["lr"]) for x, r in zip(xs, rows) if math.isfinite(r["lr"]) and r["lr"] > 0]
        if rates:
            bottom.plot(*zip(*rates), color=line.get_color(), drawstyle="steps-pre")  # a row logs its span's last rate
    worst = max(100 * r["val_nme"] for rows in curves.values() for r in rows)
    # the first validations of a run from random weights are far above the rest: keep the scale on the end
    top.set_ylim(0, min(worst, 4 * min(100 * r["val_nme"] for rows in curves.values() for r in rows)) * 1.05)
    top.set_ylabel("validation NME (%)\n(held-out training faces)")
    top.grid(alpha=0.3)
    top.legend(loc="upper right")
    bottom.set_yscale("log")
    bottom.set_ylabel("learning rate")
    bottom.set_xlabel("iteration")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def redraw(run_dir: Path) -> None:
    """Redraw ``run_dir``/curve.png from its log. A training run must not stop for its picture: without
    matplotlib it says so once, and a failed drawing is a warning."""
    global _told
    try:
        plot_learning_curves({run_dir.resolve().name: run_dir / "log.jsonl"}, run_dir / CURVE)
    except ImportError:
        if not _told:
            log.info("%s not drawn: the plot needs matplotlib (pip install 'fanzoo[plots]')", run_dir / CURVE)
            _told = True
    except (InputError, OSError, ValueError) as exc:
        log.warning("%s not drawn: %s", run_dir / CURVE, exc)


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="PNG to write (replaced atomically).")
def main(run_dirs: tuple[Path, ...], output: Path) -> None:
    """Draw the learning curves of RUN_DIRS (folders with a log.jsonl), labelled by folder name."""
    names = [d.resolve().name for d in run_dirs]
    labels = [n if names.count(n) == 1 else str(d) for n, d in zip(names, run_dirs)]
    try:
        plot_learning_curves({label: d / "log.jsonl" for label, d in zip(labels, run_dirs)}, output)
    except InputError as exc:
        raise click.ClickException(str(exc)) from None
    except ImportError:
        raise click.ClickException("the plot needs matplotlib (pip install 'fanzoo[plots]')") from None
    click.echo(f"wrote {output}")


if __name__ == "__main__":
    main()
