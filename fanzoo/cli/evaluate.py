"""`fanzoo evaluate`: NME, AUC@0.08, failure rate, CED plot and per-image CSV on annotated folders."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
import numpy as np

from . import cli
from .common import detection_options, detector_options, device_option, emit_json, json_option, precision_option

NO_DATASET = """no dataset given. fanzoo evaluate takes folders of images with iBUG .pts files beside them
(NAME.jpg + NAME.pts, 68 points, 1-based pixel coordinates), searched recursively, e.g.
  fanzoo evaluate 300w/testset/helen
300-W (the standard 68-point benchmark) comes from iBUG, Imperial College London
(https://ibug.doc.ic.ac.uk/resources/300-W/), for non-commercial research use."""


@cli.command()
@click.argument("datasets", nargs=-1, type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--model", "-m", default=None, help="Model name (default: the bundled model).")
@click.option("--backend", "-b", default=None, help="Backend plugin.")
@device_option
@click.option("--detector", default=None, help="Face detector (see `fanzoo detectors`; default: centerface).")
@detection_options
@click.option("--boxes", type=click.Choice(["detector", "gt"]), default="detector", show_default=True,
              help="Where face boxes come from; with 'detector', missed or wrong faces use the ground truth box. "
                   "Ground-truth boxes are placed from the annotated landmarks as the model's training boxes frame "
                   "a face.")
@click.option("--flip", is_flag=True, help="Add the test-time flip.")
@click.option("--artifacts", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for ced.png and per_image.csv (default: ./evaluation/<model>).")
@json_option("Write the summary as JSON to FILE, or - for stdout.")
@precision_option
def evaluate(datasets: tuple[Path, ...], model: str | None, backend: str | None, device: str, detector: str | None,
             boxes: str, flip: bool, artifacts: Path | None, out_dir: Path | None, json_out: str | None,
             det_threshold: float | None, det_size: int | None, min_face: float | None, max_faces: int | None,
             precision: str | None) -> None:
    """Evaluate on DATASETS: folders of images with iBUG .pts files beside them."""
    if not datasets:
        raise click.UsageError(NO_DATASET)
    from .. import api
    from ..evaluation import dataset_pairs, plot_ced, write_csv
    from ..evaluation import evaluate as run

    dataset_pairs(datasets)  # a folder without annotated images is an error before any model loads
    predictor = api.load_predictor(model or api.DEFAULT_MODEL, backend, device,
                                   (detector or api.DEFAULT_DETECTOR) if boxes == "detector" else None,
                                   flip=flip, artifacts=artifacts, announce=lambda m: click.echo(m, err=True),
                                   detector_options=detector_options(det_threshold, det_size, min_face, max_faces),
                                   precision=precision)
    backend = backend or predictor.spec.default_backend
    precision = precision or predictor.spec.default_precision
    out_dir = out_dir or Path("evaluation") / predictor.spec.name
    from .common import check_writable

    check_writable(out_dir, "--out", folder=True)  # before the evaluation, not after it
    summary, scores = run(predictor, datasets, boxes, progress=True, backend_name=backend)
    write_csv(out_dir / "per_image.csv", scores)
    plot: Path | None = out_dir / "ced.png"
    try:
        plot_ced(plot, {f"{summary.model} ({backend})": np.array([s.nme_eye for s in scores])})
    except ImportError:  # matplotlib is an extra: an inference install evaluates without the plot
        click.echo("note: ced.png not written: the plot needs matplotlib (pip install 'fanzoo[plots]')", err=True)
        plot = None
    if json_out:
        emit_json({**asdict(summary), "precision": precision, "csv": str(out_dir / "per_image.csv"),
                   "ced_plot": str(plot) if plot else None}, json_out)
        if json_out == "-":
            return
    click.echo(f"{summary.model} on {summary.images} faces ({backend}, {precision}, boxes: {boxes}):")
    click.echo(f"  NME (outer eye corners): mean {100 * summary.nme_eye_mean:.2f}%, "
               f"median {100 * summary.nme_eye_median:.2f}%")
    click.echo(f"  NME (box size):          mean {100 * summary.nme_box_mean:.2f}%")
    click.echo(f"  AUC@0.08 {summary.auc_008:.4f}   failure rate@0.08 {100 * summary.failure_rate_008:.2f}%")
    click.echo(f"  ground-truth boxes used for {summary.gt_boxes_used} faces the detector missed or got wrong")
    if summary.failed_images:
        click.echo(f"  {summary.failed_images} images could not be read and were skipped", err=True)
    click.echo(f"  per-image CSV: {out_dir / 'per_image.csv'}   CED plot: {plot or 'not written'}")
