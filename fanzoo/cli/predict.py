"""`fanzoo predict`: landmarks for every face in images and folders; one bad file never stops the rest."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..errors import FanzooError, InputError
from . import cli
from .common import detection_options, detector_options, device_option, echo_line, json_option, precision_option
from .results import OutputClaims, ResultsJson, write_outputs
from .video import given_video_options, predict_video_command, video_options

NOT_SAVED_HINT = ("landmarks were not saved: add --json FILE (or - for stdout), --output IMAGE|DIR for annotated "
                  "images, or --pts DIR for iBUG .pts files")


def check_output(output: Path | None, single_file: bool) -> None:
    """Refuse an --output that cannot be written before any work is done (never create a folder by surprise)."""
    if output is None or not output.suffix:
        return
    from ..imageio import can_write_image

    if not single_file:
        raise click.BadParameter(f"{output} looks like a file, but there are several inputs: give a folder",
                                 param_hint="--output")
    if not can_write_image(output):
        raise click.BadParameter(f"cannot write {output.suffix!r} images; use .png or .jpg (or a folder)",
                                 param_hint="--output")


def check_outputs_before_work(paths: list[Path], json_out: str | None, output: Path | None, single: bool,
                              pts_dir: Path | None) -> None:
    """Refuse outputs that cannot be written, that would overwrite an input, or that two inputs would both
    write (a/x.jpg and b/x.png both make x_landmarks.png and x.pts), before any image is read."""
    from .common import check_writable

    inputs = {p.resolve() for p in paths}
    for option, target in (("--json", Path(json_out) if json_out not in (None, "-") else None),
                           ("--output", output if output is not None and single and output.suffix else None)):
        if target is not None and target.resolve() in inputs:
            raise click.BadParameter(f"{target} is one of the inputs; refusing to overwrite it", param_hint=option)
    if output is not None:
        check_writable(output, "--output", folder=not (single and output.suffix))
    if pts_dir is not None:
        check_writable(pts_dir, "--pts", folder=True)
    if pts_dir is None and (output is None or (single and output.suffix)):
        return
    first: dict[str, Path] = {}
    for path in paths:
        other = first.setdefault(path.stem, path)
        if other != path:
            raise click.UsageError(f"{other} and {path} would write the same output files ({path.stem}_landmarks.png, "
                                   f"{path.stem}.pts): predict them in separate runs, or rename one")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--model", "-m", default=None, help="Model name (see `fanzoo models`).")
@click.option("--backend", "-b", default=None, help="Backend plugin (see `fanzoo backends`).")
@device_option
@click.option("--detector", default=None, help="Face detector (see `fanzoo detectors`; default: centerface).")
@detection_options
@click.option("--box", "boxes", multiple=True, help="Face box x1,y1,x2,y2 (repeatable): skips the detector.")
@click.option("--boxes-json", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Boxes from JSON: a list of boxes, or {image file name: list of boxes}.")
@click.option("--flip", is_flag=True, help="Add the authors' test-time flip (about 2x the network time).")
@json_option("Write the results as JSON to FILE, or - for stdout.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Annotated image: a file for one input, else a folder.")
@click.option("--pts", "pts_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write iBUG .pts files into this folder.")
@click.option("--artifacts", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Use this `fanzoo export` folder instead of the cache.")
@click.option("--recursive", "-r", is_flag=True, help="Also search the subfolders of folders given as INPUTS.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=None,
              help="Faces per network call (default: the model's, measured; see `fanzoo models`).")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Backend threads (default: runtime's).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: run on a Ray cluster (pip install 'fanzoo[ray]'); INPUTS may also be .txt lists and globs.")
@click.option("--address", default=None, help="--engine ray: the cluster (auto: the one `ray start` made here).")
@click.option("--results", "results_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="--engine ray: folder of Parquet shards; a rerun skips the images already there.")
@precision_option
@video_options
def predict(inputs: tuple[str, ...], model: str | None, backend: str | None, device: str, detector: str | None,
            boxes: tuple[str, ...], boxes_json: Path | None, flip: bool, json_out: str | None, output: Path | None,
            pts_dir: Path | None, artifacts: Path | None, recursive: bool, batch_size: int | None, threads: int | None,
            det_threshold: float | None, det_size: int | None, min_face: float | None, max_faces: int | None,
            engine: str, address: str | None, results_dir: Path | None, precision: str | None,
            **video: Any) -> None:
    """Predict 68 landmarks for every face in INPUTS (images or folders, or one video file or stream URL)."""
    from ..batch import ImageReader, expand_paths, predict_read
    from ..detection import ALL_IMAGES, load_boxes_json, parse_box
    from ..video import is_video_source

    detection = detector_options(det_threshold, det_size, min_face, max_faces)
    if engine == "ray" and any(is_video_source(i) for i in inputs):
        raise click.UsageError("--engine ray aligns images; a video runs with the local engine")
    if any(is_video_source(i) for i in inputs):
        from .. import api

        if boxes or boxes_json or pts_dir:
            raise click.UsageError("--box, --boxes-json and --pts apply to images; videos are tracked from detections")
        return predict_video_command(inputs, lambda: api.load_predictor(
            model or api.DEFAULT_MODEL, backend, device, detector or api.DEFAULT_DETECTOR,
            flip=flip, artifacts=artifacts, threads=threads, batch_size=batch_size, detector_options=detection,
            announce=lambda msg: click.echo(msg, err=True), precision=precision), json_out, output, video)
    if given_video_options(video):
        raise click.UsageError(f"{', '.join(given_video_options(video))}: for videos only, and no input is a video")

    try:
        given = [parse_box(b) for b in boxes]
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--box") from None
    if given and boxes_json:
        raise click.UsageError("use --box or --boxes-json, not both")
    try:
        by_name = load_boxes_json(boxes_json) if boxes_json else None
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--boxes-json") from None
    if given and detector:
        raise click.UsageError("--box replaces the detector; drop --detector")
    if (given or by_name is not None) and detection:
        raise click.UsageError("--box and --boxes-json replace the detector; drop the detection options")
    if engine == "ray":
        from ..scale.command import run_ray_command
        return run_ray_command(inputs, results_dir, address, model=model, backend=backend, device=device,
                               detector=detector, detection=detection, boxes=given, boxes_by_name=by_name, flip=flip,
                               artifacts=artifacts, recursive=recursive, batch_size=batch_size, threads=threads,
                               precision=precision, boxes_source=boxes_json, json_out=json_out, output=output,
                               pts_dir=pts_dir)
    if address or results_dir:
        raise click.UsageError("--address and --results go with --engine ray")

    def boxes_for(path: Path):
        if given:
            return given
        if by_name is not None:
            found = by_name.get(path.name, by_name.get(ALL_IMAGES))
            if found is None:  # never a silent "no faces": the user meant to give this image's boxes
                raise InputError(f"not listed in {boxes_json} (add its file name, or a \"*\" entry for every image)")
            return found
        return None

    paths = list(expand_paths(inputs, recursive))
    if not paths:
        raise click.UsageError("no input images" + ("" if recursive else " (add -r to search subfolders)"))
    single = len(paths) == 1 and not Path(inputs[0]).is_dir()
    check_output(output, single)
    check_outputs_before_work(paths, json_out, output, single, pts_dir)
    # the first images decode while the predictor loads (the reader starts before even the API is imported:
    # decoding a large image takes longer than loading a session); its thread stops at the block's end
    with ImageReader(paths) as reader:
        from .. import api

        predictor = api.load_predictor(
            model or api.DEFAULT_MODEL, backend, device,
            None if (given or by_name is not None) else (detector or api.DEFAULT_DETECTOR),
            flip=flip, artifacts=artifacts, threads=threads, batch_size=batch_size, detector_options=detection,
            announce=lambda msg: click.echo(msg, err=True), precision=precision)
        header = {"model": predictor.spec.name, "weights": predictor.weights,
                  "backend": backend or predictor.spec.default_backend, "device": device,
                  "precision": precision or predictor.spec.default_precision, "flip": flip,
                  "dims": predictor.spec.landmarks_dims}
        failed = total = 0
        claims = OutputClaims(paths)
        with ResultsJson(json_out, header) as results:
            for result in predict_read(predictor, reader, len(paths), progress=True, boxes=boxes_for):
                total += 1
                if result.ok:
                    try:
                        write_outputs(result, output, single, pts_dir, claims)
                    except (FanzooError, OSError, MemoryError) as exc:
                        from dataclasses import replace
                        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                        if isinstance(exc, MemoryError):
                            reason = "not enough memory"
                        result = replace(result, error=f"writing outputs failed: {reason}")
                results.add(result)
                if not result.ok:
                    failed += 1
                    # most errors name their file already; the line names it once
                    named = str(result.error).startswith(str(result.path))
                    echo_line(f"error: {result.error}" if named else f"error: {result.path}: {result.error}", err=True)
                elif json_out != "-":
                    n = len(result.faces)
                    echo_line(f"{result.path}: {n} face{'s' if n != 1 else ''}")
    if json_out is None and output is None and pts_dir is None:
        echo_line(NOT_SAVED_HINT, err=True)
    if failed:
        echo_line(f"{failed} of {total} files failed", err=True)
        sys.exit(1)
