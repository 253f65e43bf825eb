"""`fanzoo evaluate`: NME, AUC@0.08, failure rate, CED plot and per-image CSV on annotated folders."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
import numpy as np

from . import cli
from .common import progress_bar


@cli.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--model", "-m", default=None, help="Model name (default: the bundled model).")
@click.option("--backend", "-b", default=None, help="Backend plugin.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--detector", default=None, help="Face detector (default dlib-hog).")
@click.option("--boxes", type=click.Choice(["detector", "gt"]), default="detector", show_default=True,
              help="Where face boxes come from; with 'detector', missed or wrong faces use the ground truth box.")
@click.option("--flip", is_flag=True, help="Add the test-time flip.")
@click.option("--artifacts", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for ced.png and per_image.csv (default: ./evaluation/<model>).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def evaluate(datasets: tuple[Path, ...], model: str | None, backend: str | None, device: str, detector: str | None,
             boxes: str, flip: bool, artifacts: Path | None, out_dir: Path | None, as_json: bool) -> None:
    """Evaluate on DATASETS: folders of images with iBUG .pts files beside them."""
    from .. import api
    from ..evaluation import dataset_pairs, plot_ced, write_csv
    from ..evaluation import evaluate as run

    total = len(dataset_pairs(datasets))
    backend = backend or api.DEFAULT_BACKEND
    predictor = api.load_predictor(model or api.DEFAULT_MODEL, backend, device,
                                   (detector or api.DEFAULT_DETECTOR) if boxes == "detector" else None,
                                   flip=flip, artifacts=artifacts, announce=lambda m: click.echo(m, err=True))
    with progress_bar(total, "evaluate") as bar:
        summary, scores = run(predictor, datasets, boxes, on_progress=lambda: bar.update(1), backend_name=backend)
    out_dir = out_dir or Path("evaluation") / summary.model
    write_csv(out_dir / "per_image.csv", scores)
    plot: Path | None = out_dir / "ced.png"
    try:
        plot_ced(plot, {f"{summary.model} ({backend})": np.array([s.nme_eye for s in scores])})
    except ImportError:  # matplotlib is an extra: an inference install evaluates without the plot
        click.echo("note: ced.png not written: the plot needs matplotlib (pip install 'fanzoo[plots]')", err=True)
        plot = None
    if as_json:
        click.echo(json.dumps({**asdict(summary), "csv": str(out_dir / "per_image.csv"),
                               "ced_plot": str(plot) if plot else None}, indent=2))
        return
    click.echo(f"{summary.model} on {summary.images} faces ({backend}, boxes: {boxes}):")
    click.echo(f"  NME (outer eye corners): mean {100 * summary.nme_eye_mean:.2f}%, "
               f"median {100 * summary.nme_eye_median:.2f}%")
    click.echo(f"  NME (box size):          mean {100 * summary.nme_box_mean:.2f}%")
    click.echo(f"  AUC@0.08 {summary.auc_008:.4f}   failure rate@0.08 {100 * summary.failure_rate_008:.2f}%")
    click.echo(f"  ground-truth boxes used for {summary.gt_boxes_used} faces the detector missed or got wrong")
    if summary.failed_images:
        click.echo(f"  {summary.failed_images} images could not be read and were skipped", err=True)
    click.echo(f"  per-image CSV: {out_dir / 'per_image.csv'}   CED plot: {plot or 'not written'}")
