"""`fanzoo predict`: landmarks for every face in images and folders; one bad file never stops the rest."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from ..errors import FanzooError, InputError
from ..pts import IMAGE_SUFFIXES
from . import cli
from .common import precision_option, progress_bar

CHUNK_IMAGES = 8  # images decoded and batched together; bounds memory on large folders


@dataclass
class ImageOutcome:
    path: Path
    width: int = 0
    height: int = 0
    faces: list = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"path": str(self.path), "width": self.width, "height": self.height,
                "faces": [f.to_dict() for f in self.faces], "error": self.error}


def expand_inputs(inputs: tuple[str, ...]) -> list[Path]:
    """Files as given; folders expand to the images directly inside them, sorted."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                click.echo(f"warning: no images in folder {p}", err=True)
            paths.extend(found)
        else:
            paths.append(p)  # a missing file is reported per file, with the others going on
    return paths


def scaled_faces(faces: list, factor: float) -> list:
    """Landmarks and boxes of a reduced-size decode, back in original pixels."""
    if factor == 1.0:
        return faces
    from dataclasses import replace

    return [replace(f, box=tuple(v * factor for v in f.box),
                    landmarks=np.concatenate([f.landmarks[:, :2] * factor, f.landmarks[:, 2:] * factor], axis=1))
            for f in faces]


def run_chunk(predictor, paths: list[Path], boxes_for) -> list[ImageOutcome]:
    from ..imageio import load_image

    outcomes, loaded = [], []
    for path in paths:
        outcome = ImageOutcome(path)
        outcomes.append(outcome)
        try:
            image = load_image(path)
            outcome.height, outcome.width = (int(round(s * image.scale)) for s in image.rgb.shape[:2])
            given = boxes_for(path)
            if given is not None and image.scale != 1.0:
                from dataclasses import replace
                given = [replace(b, x1=b.x1 / image.scale, y1=b.y1 / image.scale, x2=b.x2 / image.scale,
                                 y2=b.y2 / image.scale) for b in given]
            loaded.append((outcome, image, given))
        except FanzooError as exc:
            outcome.error = str(exc)
    if not loaded:
        return outcomes
    try:
        results = predictor.predict_many([img.rgb for _, img, _ in loaded], [g for _, _, g in loaded])
    except FanzooError:
        results = None  # find the culprit: run the images one by one
    for i, (outcome, image, given) in enumerate(loaded):
        try:
            faces = results[i] if results is not None else predictor.predict(image.rgb, given)
            outcome.faces = scaled_faces(faces, image.scale)
        except FanzooError as exc:
            outcome.error = str(exc)
    return outcomes


def write_outputs(outcome: ImageOutcome, output: Path | None, single: bool, pts_dir: Path | None) -> None:
    from ..draw import annotate
    from ..imageio import load_image, write_image
    from ..pts import write_pts

    if output is not None:
        if single and output.suffix.lower() in IMAGE_SUFFIXES:
            target = output
        else:
            target = output / f"{outcome.path.stem}_landmarks.png"
        # drawn on the decode the predictor saw: a huge image stays reduced, so memory stays bounded
        image = load_image(outcome.path)
        write_image(target, annotate(image.rgb, scaled_faces(outcome.faces, 1.0 / image.scale)))
    if pts_dir is not None:
        for k, face in enumerate(outcome.faces):
            name = outcome.path.stem if len(outcome.faces) == 1 else f"{outcome.path.stem}_{k}"
            write_pts(pts_dir / f"{name}.pts", face.landmarks)


def predict_chunk(predictor, chunk: list[Path], boxes_for, output: Path | None, single: bool,
                  pts_dir: Path | None, json_out: str | None) -> list[ImageOutcome]:
    outcomes = run_chunk(predictor, chunk, boxes_for)
    for outcome in outcomes:
        if outcome.error is None:
            try:
                write_outputs(outcome, output, single, pts_dir)
            except FanzooError as exc:
                outcome.error = f"writing outputs failed: {exc}"
            except OSError as exc:
                outcome.error = f"writing outputs failed: {exc.strerror or exc}"
        if outcome.error:
            click.echo(f"error: {outcome.path}: {outcome.error}", err=True)
        elif json_out != "-":
            n = len(outcome.faces)
            click.echo(f"{outcome.path}: {n} face{'s' if n != 1 else ''}")
    return outcomes


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--model", "-m", default=None, help="Model name (see `fanzoo models`).")
@click.option("--backend", "-b", default=None, help="Backend plugin (see `fanzoo backends`).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--detector", default=None, help="Face detector: dlib-hog (default) or dlib-cnn.")
@click.option("--box", "boxes", multiple=True, help="Face box x1,y1,x2,y2 (repeatable): skips the detector.")
@click.option("--boxes-json", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Boxes from JSON: a list of boxes, or {image file name: list of boxes}.")
@click.option("--flip", is_flag=True, help="Add the authors' test-time flip (about 2x the network time).")
@click.option("--json", "json_out", default=None, help="Write results as JSON to FILE, or - for stdout.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="Annotated image: a file for one input, else a folder.")
@click.option("--pts", "pts_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write iBUG .pts files into this folder.")
@click.option("--artifacts", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Use this `fanzoo export` folder instead of the cache.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Faces per network call.")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Backend threads (default: runtime's).")
@precision_option
def predict(inputs: tuple[str, ...], model: str | None, backend: str | None, device: str, detector: str | None,
            boxes: tuple[str, ...], boxes_json: Path | None, flip: bool, json_out: str | None, output: Path | None,
            pts_dir: Path | None, artifacts: Path | None, batch_size: int, threads: int | None,
            precision: str | None) -> None:
    """Predict 68 landmarks for every face in INPUTS (images or folders)."""
    from .. import api
    from ..detection import load_boxes_json, parse_box

    try:
        given = [parse_box(b) for b in boxes]
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--box") from None
    if given and boxes_json:
        raise click.UsageError("use --box or --boxes-json, not both")
    by_name = load_boxes_json(boxes_json) if boxes_json else None
    if given and detector:
        raise click.UsageError("--box replaces the detector; drop --detector")

    def boxes_for(path: Path):
        if given:
            return given
        if by_name is not None:
            return by_name.get(path.name, by_name.get("*", []))
        return None

    paths = expand_inputs(inputs)
    if not paths:
        raise click.UsageError("no input images")
    predictor = api.load_predictor(
        model or api.DEFAULT_MODEL, backend, device,
        None if (given or by_name is not None) else (detector or api.DEFAULT_DETECTOR),
        flip=flip, artifacts=artifacts, threads=threads, batch_size=batch_size,
        announce=lambda msg: click.echo(msg, err=True), precision=precision)
    outcomes: list[ImageOutcome] = []
    chunks = [paths[i:i + CHUNK_IMAGES] for i in range(0, len(paths), CHUNK_IMAGES)]
    with progress_bar(len(paths), "predict") as bar:
        for chunk in chunks:
            outcomes.extend(predict_chunk(predictor, chunk, boxes_for, output, len(paths) == 1, pts_dir, json_out))
            bar.update(len(chunk))
    if json_out is not None:
        document = {"model": predictor.spec.name, "backend": backend or predictor.spec.default_backend, "device": device,
                    "precision": precision or predictor.spec.default_precision, "flip": flip,
                    "dims": predictor.spec.landmarks_dims, "images": [o.to_dict() for o in outcomes]}
        text = json.dumps(document, indent=2)
        if json_out == "-":
            click.echo(text)
        else:
            from ..atomic import atomic_write_text
            atomic_write_text(json_out, text + "\n")
    failed = sum(1 for o in outcomes if o.error)
    if failed:
        click.echo(f"{failed} of {len(outcomes)} files failed", err=True)
        sys.exit(1)
