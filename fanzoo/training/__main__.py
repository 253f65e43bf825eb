"""`python -m fanzoo.training ARGS`: the same as `fanzoo train ARGS` (fanzoo/cli/train.py), for nohup lines.

    nohup nice -n 19 .venv/bin/python -m fanzoo.training --model 2dfan-lite \
        --out training_runs/2dfan-lite > training_runs/2dfan-lite.out 2>&1 &
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run `fanzoo train` with ``argv`` (default: the command line); exits with its exit code."""
    # before NumPy and NNabla load their thread pools: every training process computes on one core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ..cli import cli
    from ..cli import train as _train_command  # noqa: F401  (registers the subcommand)

    args = sys.argv[1:] if argv is None else argv
    cli.main(["train", *args], prog_name="python -m fanzoo.training")


if __name__ == "__main__":
    main()
