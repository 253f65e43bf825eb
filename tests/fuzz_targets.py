"""The readers of untrusted bytes, as the fuzz suite calls them in a child process: bytes in, the reader's
result (or its exception) out. Each writes the bytes where its reader expects a file."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

# reader name -> the exception type(s) a reader may raise for bad input; anything else is a defect
EXPECTED_ERRORS = {
    "image": "fanzoo.errors.InputError",
    "pts": "fanzoo.errors.InputError",
    "h5": "fanzoo.errors.WeightsError",
    "pth": "fanzoo.errors.WeightsError",
    "pth-state-dict": "fanzoo.errors.WeightsError",
    "manifest": "fanzoo.errors.ArtifactError",
    "boxes-json": "fanzoo.errors.InputError",
    "box-text": "fanzoo.errors.InputError",
}


def _quiet() -> None:
    """Codecs print warnings on stderr for damaged files; thousands of them would bury the test log."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def read(reader: str, data: bytes) -> Any:
    _quiet()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if reader == "image":
            from fanzoo.imageio import decode_image_bytes
            return decode_image_bytes(data, "fuzzed")
        if reader == "pts":
            from fanzoo.pts import read_pts
            (folder / "x.pts").write_bytes(data)
            return read_pts(folder / "x.pts")
        if reader == "h5":
            from fanzoo.weights.h5params import read_h5_params
            (folder / "x.h5").write_bytes(data)
            return read_h5_params(folder / "x.h5")
        if reader == "pth":
            from fanzoo.weights.torch_checkpoint import load_torch_checkpoint
            (folder / "x.pth").write_bytes(data)
            return load_torch_checkpoint(folder / "x.pth")
        if reader == "pth-state-dict":
            from fanzoo.weights.importer import read_any_weights
            (folder / "x.pth").write_bytes(data)
            return read_any_weights(folder / "x.pth", {"conv1/conv/W": (8, 3, 7, 7), "conv1/conv/b": (8,),
                                                        "bn1/bn/mean": (1, 8, 1, 1), "bn1/bn/var": (1, 8, 1, 1)})
        if reader == "manifest":
            from fanzoo.export.manifest import read_manifest
            from fanzoo.export.verify import artifact_path
            model = folder / "exported" / "model"
            model.mkdir(parents=True)
            (model / "MANIFEST.json").write_bytes(data)
            manifest = read_manifest(model)
            return [artifact_path(model, entry) for entry in manifest.artifacts.values()]
        if reader == "boxes-json":
            from fanzoo.detection import load_boxes_json
            (folder / "boxes.json").write_bytes(data)
            return load_boxes_json(folder / "boxes.json")
        if reader == "box-text":
            from fanzoo.detection import parse_box
            return parse_box(data.decode("utf-8", "replace"))
    raise ValueError(f"unknown reader {reader!r}")
