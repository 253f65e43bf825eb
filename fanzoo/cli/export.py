"""`fanzoo export MODEL --format nnp|onnx`: validated artifacts with reference tensors and a manifest."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import FanzooError
from . import cli
from .common import emit_json, json_option


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
@click.option("--format", "fmt", type=click.Choice(["onnx", "nnp", "triton"]), required=True,
              help="Artifact format; triton: a Triton model repository around the ONNX artifact.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("exported"),
              show_default=True, help="Output folder; each model gets a subfolder.")
@click.option("--weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Weights file (.h5 or the authors' .pth.tar); default: the cache.")
@click.option("--depth-weights", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Weights of the depth network, for a 3D model; default: the cache.")
@click.option("--opset", type=int, default=13, show_default=True, help="ONNX opset (10, 11 or 13).")
@click.option("--batch", default="dynamic", show_default=True,
              help="ONNX batch size: a number or 'dynamic'; for triton, the max_batch_size (default 32).")
@click.option("--random-weights", "random_seed", type=int, default=None,
              help="Export seeded random weights (BatchNorm calibrated on real faces). For tests only.")
@click.option("--bind", is_flag=True,
              help="ONNX: fill the shipped weight-free graph instead of converting with NNabla "
                   "(what happens anyway where NNabla is not installed).")
@json_option("Write the manifests as JSON to FILE, or - for stdout.")
@click.option("--precision", type=click.Choice(["fp32", "int8"]), default="fp32", show_default=True,
              help="int8: also write a statically quantized copy (ONNX only), calibrated on real faces.")
@click.option("--calibration", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="int8 calibration faces: images with iBUG .pts files beside them "
                   "(default: $FANZOO_DATA/300w/trainset, or ../shared/data/300w/trainset of a checkout).")
@click.option("--calibration-faces", type=click.IntRange(8, 4096), default=64, show_default=True,
              help="How many faces int8 calibrates on.")
@click.option("--keep-fp32", "keep_fp32", type=click.Choice(["stem", "head"]), multiple=True,
              help="int8: leave these layers in fp32 (repeatable; default: the model's registry entry).")
def export(model: str, fmt: str, out_dir: Path, weights: Path | None, depth_weights: Path | None, opset: int,
           batch: str, random_seed: int | None, bind: bool, json_out: str | None, precision: str,
           calibration: Path | None, calibration_faces: int, keep_fp32: tuple[str, ...]) -> None:
    """Export MODEL (ARCH or ARCH.TAG; for 3D, its depth network too) to OUT/<architecture>/."""
    from ..export.exporter import export as do_export
    from ..precision import artifact_key
    from .common import check_writable

    check_writable(out_dir, "--out", folder=True)  # before the minutes an export takes
    batch_size = parse_batch(batch)
    if fmt == "triton":
        from ..export.triton import DEFAULT_MAX_BATCH, export_triton

        written = export_triton(model, out_dir, weights, depth_weights, opset, random_seed, batch_size or DEFAULT_MAX_BATCH)
        if json_out:
            from dataclasses import asdict

            return emit_json([asdict(m) for m in written], json_out)
        for m in written:
            click.echo(f"{m.model}: {out_dir / m.model / 'config.pbtxt'} and 1/model.onnx (Triton, onnxruntime_onnx)")
        return
    if fmt == "nnp" and batch != "dynamic":
        raise click.BadParameter("NNP artifacts always have a variable batch size", param_hint="--batch")
    if precision != "fp32" and fmt != "onnx":
        raise click.BadParameter(f"{precision} artifacts are ONNX files; use --format onnx", param_hint="--precision")
    try:
        # int8 starts from the fp32 artifact: one already there from the same weights is kept
        manifests = do_export(model, fmt, out_dir, weights, depth_weights, opset, batch_size, random_seed,
                              bind=True if bind else None, reuse=precision != "fp32")
        if precision == "int8":
            from ..export.quantize import quantize_folder
            from ..plugins import get_model

            # a network whose int8 misses its tolerance (the registry says so) stays fp32, as predict runs it
            manifests = [quantize_folder(get_model(m.model), out_dir / m.model, calibration=calibration,
                                         faces=calibration_faces, keep_fp32=keep_fp32 or None)
                         if get_model(m.model).int8 else m for m in manifests]
    except ImportError as exc:
        raise FanzooError(f"this export needs NNabla (Python 3.10): pip install 'fanzoo[nnabla]' ({exc})") from exc
    if json_out:
        emit_json([m.to_dict() for m in manifests], json_out)
        return
    for m in manifests:
        key = artifact_key(fmt, precision) if artifact_key(fmt, precision) in m.artifacts else fmt
        if key != artifact_key(fmt, precision):
            click.echo(f"{m.weights_name}: stays fp32 (its int8 was measured too far from fp32; see its registry entry)")
        entry = m.artifacts[key]
        error = "bound without NNabla: no NNabla reference here" if entry.max_relative_error is None \
            else f"max relative error {entry.max_relative_error:.1e} <= {m.tolerance_of(key):.0e}"
        click.echo(f"{m.weights_name}: {out_dir / m.model / entry.file} ({entry.precision}, opset {entry.opset or '-'}, "
                   f"batch {entry.batch}, {error})")
        if entry.quantization:
            q = entry.quantization
            kept = ", ".join(f"{role} ({', '.join(names)})" for role, names in q["kept_fp32"].items()) or "nothing"
            err = ", ".join(f"{k} {v:.3g}" for k, v in q["error_vs_fp32_held_out"].items())
            click.echo(f"  calibrated on {q['calibration']['faces']} faces of {q['calibration']['folder']}; "
                       f"kept in fp32: {kept}")
            click.echo(f"  against fp32 on {q['calibration']['held_out_faces']} held-out faces: {err}")
