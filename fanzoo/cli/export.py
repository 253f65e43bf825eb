"""`fanzoo export MODEL --format nnp|onnx`: validated artifacts with reference tensors and a manifest."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import FanzooError
from . import cli
from .common import echo_json


def parse_batch(value: str) -> int | None:
    if value == "dynamic":
        return None
    try:
        batch = int(value)
    except ValueError:
        raise click.BadParameter("must be a positive number or 'dynamic'") from None
    if batch < 1:
        raise click.BadParameter("must be a positive number or 'dynamic'")
    return batch


@cli.command()
@click.argument("model")
@click.option("--format", "fmt", type=click.Choice(["onnx", "nnp"]), required=True, help="Artifact format.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("exported"),
              show_default=True, help="Output folder; each model gets a subfolder.")
@click.option("--weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Weights file (.h5 or the authors' .pth.tar); default: the cache.")
@click.option("--depth-weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Weights of the depth network, for a 3D model; default: the cache.")
@click.option("--opset", type=int, default=13, show_default=True, help="ONNX opset (10, 11 or 13).")
@click.option("--batch", default="dynamic", show_default=True, help="ONNX batch size: a number or 'dynamic'.")
@click.option("--random-weights", "random_seed", type=int, default=None,
              help="Export seeded random weights (BatchNorm calibrated on real faces). For tests only.")
@click.option("--bind", is_flag=True,
              help="ONNX: fill the shipped weight-free graph instead of converting with NNabla "
                   "(what happens anyway where NNabla is not installed).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON.")
def export(model: str, fmt: str, out_dir: Path, weights: Path | None, depth_weights: Path | None, opset: int,
           batch: str, random_seed: int | None, bind: bool, as_json: bool) -> None:
    """Export MODEL (ARCH or ARCH.TAG; for 3D, its depth network too) to OUT/<architecture>/."""
    from ..export.exporter import export as do_export

    batch_size = parse_batch(batch)
    if fmt == "nnp" and batch != "dynamic":
        raise click.BadParameter("NNP artifacts always have a variable batch size", param_hint="--batch")
    try:
        manifests = do_export(model, fmt, out_dir, weights, depth_weights, opset, batch_size, random_seed,
                              bind=True if bind else None)
    except ImportError as exc:
        raise FanzooError(f"this export needs NNabla (Python 3.10): pip install 'fanzoo[nnabla]' ({exc})") from exc
    if as_json:
        echo_json([m.to_dict() for m in manifests])
        return
    for m in manifests:
        entry = m.artifacts[fmt]
        error = "not measured: bound without NNabla" if entry.max_relative_error is None \
            else f"max relative error {entry.max_relative_error:.1e} <= {m.tolerance:.0e}"
        click.echo(f"{m.weights_name}: {out_dir / m.model / entry.file} (opset {entry.opset or '-'}, "
                   f"batch {entry.batch}, {error})")
