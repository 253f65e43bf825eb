"""A small application that embeds fanzoo: ONNX Runtime plugin + predictor, no CLI, no nnabla.

    python examples/align_folder.py EXPORTED_DIR MODEL IMAGE_FOLDER OUT.json

EXPORTED_DIR is a `fanzoo export` output folder (e.g. ./exported) holding MODEL (and, for a 3D model,
its depth network). Every image in IMAGE_FOLDER gets its faces' landmarks; unreadable files are
reported and skipped.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from fanzoo.detection.dlib_hog import DlibHogDetector
from fanzoo.errors import FanzooError
from fanzoo.export.manifest import read_manifest
from fanzoo.imageio import read_image
from fanzoo.plugins import get_model
from fanzoo.predictor import Predictor
from fanzoo_onnxruntime import OnnxRuntimeBackend


def main(exported: Path, model: str, images: Path, out: Path) -> int:
    backend = OnnxRuntimeBackend()
    manifest = read_manifest(exported / model)
    landmarks = backend.load(exported / model / manifest.entry("onnx").file)
    depth = None
    if manifest.depth_model:
        depth_dir = (exported / model / manifest.depth_model["path"]).resolve()
        depth = backend.load(depth_dir / read_manifest(depth_dir).entry("onnx").file)
    # the manifest is the artifact's contract: its crop and decoding rule go with its weights
    predictor = Predictor(get_model(model), landmarks, depth, detector=DlibHogDetector(),
                          preprocessing=manifest.crop(), subpixel=manifest.subpixel)
    results, failures = {}, 0
    for path in sorted(p for p in images.iterdir() if p.is_file()):
        try:
            faces = predictor.predict(read_image(path))
            results[path.name] = [face.to_dict() for face in faces]
        except FanzooError as exc:
            failures += 1
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
    out.write_text(json.dumps(results, indent=2))
    print(f"{len(results)} images, {sum(map(len, results.values()))} faces -> {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
