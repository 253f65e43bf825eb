"""Regenerate fanzoo/bundled/reference_faces.npz: the inputs every export is validated on.

Two public-domain demo photos (scikit-image's astronaut, matplotlib's Grace Hopper) cropped the
authors' way around their dlib HOG boxes, and the mean 68-point shape of the 300-W training set in crop
coordinates (a statistic of the annotations, used to draw the depth network's landmark maps).
    .venv/bin/python tools/make_reference_faces.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanzoo.imageio import read_image  # noqa: E402
from fanzoo.preprocessing import box_to_center_scale, crop  # noqa: E402
from fanzoo.pts import annotated_images, read_pts  # noqa: E402

DATA = Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))
FACES = {"skimage_astronaut.png": (179, 83, 266, 170), "matplotlib_grace_hopper.jpg": (161, 137, 376, 352)}


def mean_shape() -> np.ndarray:
    shapes = []
    for _, pts_path in annotated_images(DATA / "300w" / "trainset"):
        pts = read_pts(pts_path)
        center, scale = box_to_center_scale([*pts.min(0), *pts.max(0)])
        h = 200.0 * scale
        shapes.append((pts - (center - h / 2)) * 256.0 / h)
    return np.mean(shapes, axis=0).astype(np.float32)


def main() -> None:
    crops = [crop(read_image(DATA / "demo" / name), *box_to_center_scale(box)) for name, box in FACES.items()]
    out = ROOT / "fanzoo" / "bundled" / "reference_faces.npz"
    np.savez_compressed(out, crops=np.stack(crops), mean_shape=mean_shape(), names=np.array(list(FACES)))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
