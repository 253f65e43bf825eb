"""`fanzoo train`: train a FAN variant from the registry in NNabla; resumes from its checkpoint.

`python -m fanzoo.training ARGS` runs this same command (fanzoo/training/__main__.py).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..jsonparse import parse_json
from . import cli


def default_data() -> Path:
    # relative to the project root, where commands are run from
    return Path(os.environ.get("FANZOO_DATA", "../shared/data")) / "300w" / "trainset"


def parse_settings(settings: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE strings -> {KEY: VALUE}, VALUE read as JSON where it parses (numbers, lists, true), else a string."""
    parsed: dict[str, Any] = {}
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            parsed[key.strip()] = parse_json(text)
        except ValueError:  # not JSON (or nested too deeply to be a setting): the text itself
            parsed[key.strip()] = text
    return parsed


@cli.command()
@click.argument("data", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option("--model", "-m", default="2dfan-lite", show_default=True, help="Registered FAN variant to train.")
@click.option("--recipe", default=None,
              help="Named recipe to start from (fanzoo.training.config.RECIPES); default: the one named after "
                   "the model if there is one, else the 2dfan-lite defaults. A resume keeps the run's own.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Change one recipe field, e.g. --set loss=weighted-mse --set augmentation.occlusion=0 "
                   "(VALUE is JSON, or else a string); repeatable. For ablations.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Run folder (checkpoint, log.jsonl, best.h5); default training_runs/<model>.")
@click.option("--iterations", type=click.IntRange(1), default=None, help="Total iterations (default: the recipe's).")
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--max-iterations", type=click.IntRange(1), default=None, help="Stop after this many more.")
@click.option("--processes", type=click.IntRange(1), default=None,
              help="Processes sharing each batch, one core each (default: one per core that divides the batch).")
@click.option("--no-resume", is_flag=True, help="Start over even if a checkpoint exists.")
@click.option("--import-weights", "install", is_flag=True, help="Import the best weights into the cache when done.")
def train(data: Path | None, model: str, recipe: str | None, settings: tuple[str, ...], out_dir: Path | None,
          iterations: int | None, batch_size: int | None, max_iterations: int | None, processes: int | None,
          no_resume: bool, install: bool) -> None:
    """Train MODEL on DATA, a folder of images with iBUG .pts files (default: ../shared/data/300w/trainset).

    Run the same command again to resume: the run folder's checkpoint and recipe are continued; --iterations
    and --batch-size given on a resume change the recipe from there on.
    """
    # every training process computes on one core; helper processes are spawned and inherit this
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # the progress lines are this command's output, whatever -v says
    logging.getLogger("fanzoo.training").setLevel(logging.INFO)
    from ..plugins import get_model
    from ..training.checkpoints import stored_config
    from ..training.config import recipe_for
    from ..training.loop import check_training_folder
    from ..training.loop import train as run
    from ..training.parallel import default_processes

    spec = get_model(model)
    if spec.task != "landmarks":
        raise InputError(f"{spec.name} is not a landmark model; fanzoo trains FAN variants")
    data = data or default_data()
    check_training_folder(data)
    out_dir = out_dir or Path("training_runs") / spec.name
    from .common import check_writable

    check_writable(out_dir, "--out", folder=True)  # before hours of training, not after the first checkpoint
    stored = None if no_resume else stored_config(out_dir)
    if stored is not None and stored.model != spec.name:
        raise InputError(f"{out_dir} holds a {stored.model} run, not {spec.name}")
    if stored is not None and recipe is not None and stored.recipe != recipe:
        raise InputError(f"{out_dir} holds a run of recipe {stored.recipe or 'default'!r}, not {recipe!r}; "
                         "resume without --recipe, or start over with --no-resume")
    # a resume keeps the run's own recipe; options given here change it from this point on
    config = (stored or recipe_for(spec.name, recipe)).with_changes(iterations=iterations, batch_size=batch_size)
    config = config.with_settings(parse_settings(settings))
    processes = processes or default_processes(config.batch_size)
    if config.batch_size % processes:
        raise InputError(f"--processes {processes} does not divide the batch size {config.batch_size}")
    best = run(config, data, out_dir, resume=not no_resume, max_iterations=max_iterations, spec=spec,
               keep_recipe=False, processes=processes)
    click.echo(f"best weights: {best}")
    if install:
        from ..training.trainer import TRAINED_SUBPIXEL
        from ..weights.importer import import_file

        done = import_file(spec, best, subpixel=TRAINED_SUBPIXEL)
        click.echo(f"imported as {done.model.name} into {done.path}")
