"""`python -m fanzoo.training`: start or resume a training run (the command training_runs/*/README.md records).

    nohup .venv/bin/python -m fanzoo.training --model 2dfan-lite \
        --out training_runs/2dfan-lite > training_runs/2dfan-lite.out 2>&1 &

Run the same command again to resume: the run folder's checkpoint and recipe are continued. Options given
on a resume (--iterations, --batch-size) change the recipe from there on.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def default_data() -> Path:
    # as `fanzoo train`: relative to the project root, where commands are run from
    return Path(os.environ.get("FANZOO_DATA", "../shared/data")) / "300w" / "trainset"


def main(argv: list[str] | None = None) -> int:
    # before NNabla and NumPy load: every training process computes on one core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(prog="python -m fanzoo.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="2dfan-lite", help="registered FAN variant (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=None, help="folder of images with .pts files "
                        "(default: $FANZOO_DATA/300w/trainset, else ../shared/data/300w/trainset)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: training_runs/MODEL)")
    parser.add_argument("--iterations", type=int, default=None, help="total iterations of the run")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-iterations", type=int, default=None, help="stop after this many more")
    parser.add_argument("--processes", type=int, default=None,
                        help="processes sharing each batch, one core each (default: one per core that divides the batch)")
    parser.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("nnabla").setLevel(logging.WARNING)
    from .config import TrainConfig
    from .loop import Trainer, train

    data = args.data or default_data()
    if "testset" in data.resolve().parts:
        parser.error("refusing to train on a test set folder")
    if not data.is_dir():
        parser.error(f"no training data at {data}")
    out = args.out or Path("training_runs") / args.model
    stored = None if args.no_resume else Trainer.stored_config(out)
    if stored is not None and stored.model != args.model:
        parser.error(f"{out} holds a {stored.model} run, not {args.model}")
    base = stored or TrainConfig(model=args.model)
    config = base.with_changes(iterations=args.iterations, batch_size=args.batch_size)
    from .parallel import default_processes
    processes = args.processes or default_processes(config.batch_size)
    if processes < 1 or config.batch_size % processes:
        parser.error(f"--processes {processes} does not divide the batch size {config.batch_size}")
    best = train(config, data, out, resume=not args.no_resume, max_iterations=args.max_iterations,
                 keep_recipe=False, processes=processes)
    print(f"best weights: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
