"""`fanzoo train`: train a FAN variant from the registry in NNabla; resumes from its checkpoint."""
from __future__ import annotations

import os
from pathlib import Path

import click

from . import cli


@cli.command()
@click.argument("data", type=click.Path(path_type=Path, file_okay=False, exists=True), required=False)
@click.option("--model", "-m", default="2dfan-lite", show_default=True, help="Registered FAN variant to train.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Run folder (checkpoint, log.jsonl, best.h5); default training_runs/<model>.")
@click.option("--iterations", type=click.IntRange(1), default=None, help="Total iterations (default: the recipe's).")
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--max-iterations", type=click.IntRange(1), default=None, help="Stop after this many more.")
@click.option("--processes", type=click.IntRange(1), default=None,
              help="Processes sharing each batch, one core each (default: one per core that divides the batch).")
@click.option("--no-resume", is_flag=True, help="Start over even if a checkpoint exists.")
@click.option("--import-weights", "install", is_flag=True, help="Import the best weights into the cache when done.")
def train(data: Path | None, model: str, out_dir: Path | None, iterations: int | None, batch_size: int | None,
          max_iterations: int | None, processes: int | None, no_resume: bool, install: bool) -> None:
    """Train MODEL on DATA, a folder of images with iBUG .pts files (default: ../shared/data/300w/trainset)."""
    from ..errors import InputError
    from ..plugins import get_model
    from ..training.loop import TrainConfig, Trainer
    from ..training.loop import train as run

    spec = get_model(model)
    if spec.task != "landmarks":
        raise InputError(f"{spec.name} is not a landmark model; fanzoo trains FAN variants")
    if data is None:
        data = Path(os.environ.get("FANZOO_DATA", "../shared/data")) / "300w" / "trainset"
        if not data.is_dir():
            raise InputError(f"no training data at {data}; pass a folder of images with .pts files")
    if "testset" in data.parts:
        raise InputError("refusing to train on a test set folder")
    out_dir = out_dir or Path("training_runs") / spec.name
    stored = None if no_resume else Trainer.stored_config(out_dir)
    if stored is not None and stored.model != spec.name:
        raise InputError(f"{out_dir} holds a {stored.model} run, not {spec.name}")
    # a resume keeps the run's own recipe; options given here change it from this point on
    config = (stored or TrainConfig(model=spec.name)).with_changes(iterations=iterations, batch_size=batch_size)
    from ..training.parallel import default_processes
    processes = processes or default_processes(config.batch_size)
    if config.batch_size % processes:
        raise InputError(f"--processes {processes} does not divide the batch size {config.batch_size}")
    best = run(config, data, out_dir, resume=not no_resume, max_iterations=max_iterations, spec=spec,
               keep_recipe=False, processes=processes)
    click.echo(f"best weights: {best}")
    if install:
        from ..weights.importer import import_weights
        click.echo(f"imported into {import_weights(spec, best)}")
