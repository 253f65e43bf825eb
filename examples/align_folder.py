"""A small application that embeds fanzoo through its public API: no CLI, and no NNabla needed.

    python examples/align_folder.py EXPORTED_DIR MODEL IMAGE_FOLDER OUT.json

EXPORTED_DIR is a `fanzoo export` output folder (e.g. ./exported) holding MODEL (and, for a 3D model,
its depth network); pass - to use the cache (or the bundled model). Every image in IMAGE_FOLDER gets its
faces' landmarks; unreadable files are reported and skipped.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import fanzoo


def main(exported: str, model: str, images: Path, out: Path) -> int:
    predictor = fanzoo.load_predictor(model, artifacts=None if exported == "-" else exported)
    results, failures = {}, 0
    for result in predictor.predict_paths(images):
        if result.ok:
            results[result.path.name] = [{"box": list(face.box), "landmarks": face.landmarks.tolist()}
                                         for face in result.faces]
        else:
            failures += 1
            print(f"skipped {result.path.name}: {result.error}", file=sys.stderr)
    out.write_text(json.dumps(results, indent=2))
    print(f"{len(results)} images, {sum(map(len, results.values()))} faces -> {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
