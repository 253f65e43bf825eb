"""A Triton Inference Server model repository from exported ONNX artifacts: config.pbtxt, 1/model.onnx, README.

The config is written from the artifact's MANIFEST (tensor names, dtypes, shapes without the batch axis),
after checking that the ONNX file is the one the manifest describes (sha256) and that its graph has the
same inputs and outputs. A 3D model brings its depth network, a second Triton model.
"""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_dir, atomic_write_text
from ..errors import ExportError
from .manifest import MANIFEST, Manifest, read_manifest

# MANIFEST dtype -> Triton's DataType enum name
TRITON_TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "uint8": "TYPE_UINT8"}
DEFAULT_MAX_BATCH = 32
DEFAULT_QUEUE_DELAY_US = 2000  # how long Triton may hold a request to fill a batch


def _dims(tensor: dict[str, Any], model: str) -> list[int]:
    shape = list(tensor["shape"])
    if not shape or isinstance(shape[0], int):
        raise ExportError(f"{model}: {tensor['name']} has a fixed batch size {shape[:1]}; Triton batches on the "
                          f"first axis: export with `--batch dynamic`")
    rest = shape[1:]
    if not all(isinstance(d, int) and d > 0 for d in rest):
        raise ExportError(f"{model}: {tensor['name']} has dynamic axes besides the batch: {shape}")
    return rest


def _tensor_block(tensor: dict[str, Any], model: str) -> str:
    dtype = TRITON_TYPES.get(tensor["dtype"])
    if dtype is None:
        raise ExportError(f"{model}: {tensor['name']} has dtype {tensor['dtype']}, which fanzoo cannot map to Triton")
    dims = ", ".join(str(d) for d in _dims(tensor, model))
    return f'  {{\n    name: "{tensor["name"]}"\n    data_type: {dtype}\n    dims: [ {dims} ]\n  }}'


def config_pbtxt(manifest: Manifest, max_batch_size: int = DEFAULT_MAX_BATCH, instances: int = 1) -> str:
    """Triton's ModelConfig in protobuf text format for one exported model (ONNX Runtime, CPU instances)."""
    if max_batch_size < 1 or instances < 1:
        raise ExportError("max_batch_size and instances must be at least 1")
    name = manifest.model
    inputs = ",\n".join(_tensor_block(t, name) for t in manifest.inputs)
    outputs = ",\n".join(_tensor_block(t, name) for t in manifest.outputs)
    return (f'# written by `fanzoo export {name} --format triton` from MANIFEST.json (sha256 of 1/model.onnx:\n'
            f'# {manifest.entry("onnx").sha256})\n'
            f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch_size}\n'
            f'input [\n{inputs}\n]\noutput [\n{outputs}\n]\n'
            f'dynamic_batching {{\n  max_queue_delay_microseconds: {DEFAULT_QUEUE_DELAY_US}\n}}\n'
            f'instance_group [\n  {{\n    count: {instances}\n    kind: KIND_CPU\n  }}\n]\n')


def _checked_onnx(folder: Path, manifest: Manifest) -> Path:
    """The artifact's model.onnx, once its bytes match the manifest's sha256 and its graph the manifest's tensors."""
    import onnx

    from ..weights.store import sha256_file

    entry = manifest.entry("onnx")
    path = folder / entry.file
    if not path.is_file():
        raise ExportError(f"{path} is missing; run `fanzoo export {manifest.model} --format onnx`")
    if sha256_file(path) != entry.sha256:
        raise ExportError(f"{path} does not match the sha256 in its {MANIFEST}; export it again")
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    found = ([i.name for i in graph.input if i.name not in initializers], [o.name for o in graph.output])
    wanted = ([t["name"] for t in manifest.inputs], [t["name"] for t in manifest.outputs])
    if found != wanted:
        raise ExportError(f"{path}: the graph's inputs and outputs {found} are not the manifest's {wanted}")
    return path


def _readme(out: Path) -> str:
    models = [read_manifest(folder) for folder in sorted(out.iterdir())
              if folder.is_dir() and (folder / "config.pbtxt").is_file() and (folder / MANIFEST).is_file()]
    lines = ["# Triton model repository written by fanzoo", "",
             "No Triton server was run when fanzoo wrote or tested this repository: the configs are checked",
             "by parsing them with Triton's own model-config protobuf and comparing them with the ONNX files.", "",
             "Serve it with `tritonserver --model-repository=<this folder>` (an image with the ONNX Runtime",
             "backend). Each model folder holds `config.pbtxt`, `1/model.onnx` and the `MANIFEST.json` the",
             "artifact was exported with (its `file` entry names the ONNX file, which sits in `1/` here).", ""]
    for m in models:
        pre = m.preprocessing or {}
        lines += [f"## {m.model}", "",
                  *(f"- input `{t['name']}` {t['dtype']} {t['shape']}: {t.get('description', '')}" for t in m.inputs),
                  *(f"- output `{t['name']}` {t['dtype']} {t['shape']}: {t.get('description', '')}" for t in m.outputs),
                  ""]
        if pre:
            lines += [f"Crops: {pre.get('input_size')} px, {pre.get('channel_order')}, values in "
                      f"{pre.get('pixel_range')}, centred on the face box as fanzoo's `preprocessing` does "
                      f"(reference scale {pre.get('reference_scale')}). Heatmap stride {pre.get('heatmap_stride')}: "
                      f"decode the peaks with `fanzoo.decoding.decode_heatmaps` ({m.subpixel} sub-pixel; the "
                      f"weights are {m.weights_name}, licence: {m.license}).",
                      ""]
        if m.depth_model:
            depth = m.depth_model["name"]
            lines += [f"{m.model} is 3D, a two-step call: (1) send the crops to `{m.model}` and decode its heatmaps",
                      "to 68 (x, y) points in heatmap pixels; (2) build the depth input on the client with",
                      "`fanzoo.depth_input.depth_network_input(crop, points, stride)`: the (3, S, S) crop plus one",
                      f"gaussian per landmark, (71, S, S) in all; send it to `{depth}`, which returns z per landmark",
                      "in crop units; `fanzoo.depth_input.depth_to_image` scales it like x and y.", ""]
    return "\n".join(lines)


def _collect(folder: Path) -> list[tuple[Path, Manifest]]:
    manifest = read_manifest(folder)
    found = [(folder, manifest)]
    if manifest.depth_model:
        depth = (folder / manifest.depth_model["path"]).resolve()
        found.append((depth, read_manifest(depth)))
    return found


def write_triton_repository(artifact_folders: Sequence[Path], out: Path, max_batch_size: int = DEFAULT_MAX_BATCH,
                            instances: int = 1) -> list[Manifest]:
    """Write ``out/<model>/{config.pbtxt, 1/model.onnx, MANIFEST.json}`` for each exported folder (and the
    depth network a 3D model names), and ``out/README.md``. Each model folder is replaced atomically."""
    out = Path(out)
    models = [pair for folder in artifact_folders for pair in _collect(Path(folder))]
    written: list[Manifest] = []
    for folder, manifest in models:
        if manifest.model in {m.model for m in written}:
            continue
        onnx_file = _checked_onnx(folder, manifest)
        config = config_pbtxt(manifest, max_batch_size, instances)
        with atomic_dir(out / manifest.model) as tmp:
            (tmp / "1").mkdir()
            shutil.copyfile(onnx_file, tmp / "1" / "model.onnx")
            shutil.copyfile(folder / MANIFEST, tmp / MANIFEST)
            (tmp / "config.pbtxt").write_text(config, encoding="utf-8")
        written.append(manifest)
    atomic_write_text(out / "README.md", _readme(out))  # every model of the repository, earlier ones too
    return written


def export_triton(model: str, out: Path, weights: Path | None = None, depth_weights: Path | None = None,
                  opset: int = 13, random_seed: int | None = None, max_batch_size: int = DEFAULT_MAX_BATCH
                  ) -> list[Manifest]:
    """`fanzoo export MODEL --format triton`: the model's ONNX artifact as predict would use it (the bundled
    one, the cache's, or exported now), or, with weights or a seed given, a fresh dynamic-batch export."""
    import tempfile

    from ..artifacts import prepare
    from ..plugins import get_model

    spec = get_model(model)
    if weights is None and depth_weights is None and random_seed is None:
        return write_triton_repository([prepare(model, "onnx")[0].path.parent], out, max_batch_size)
    from .exporter import export

    with tempfile.TemporaryDirectory(prefix=".fanzoo-triton-", dir=Path(out).parent if Path(out).parent.is_dir()
                                     else None) as tmp:
        export(model, "onnx", tmp, weights, depth_weights, opset, None, random_seed)
        return write_triton_repository([Path(tmp) / spec.name], out, max_batch_size)
