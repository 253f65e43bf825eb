"""Face regions cut once from the training photos, so an augmented example costs milliseconds, not a decode.

Decoding a multi-megapixel 300-W photo takes longer than the network's step on a small batch, and with
every core running NNabla there is no spare core for a loader. So each face's neighbourhood (twice the
crop side around the crop centre: enough for the box jitter and a 30 degree turn) is decoded once, resized
with area averaging to twice the network's input size, and kept in one uint8 array on disk that every
training process memory-maps, with the matrix from photo to region pixels. Crop geometry and targets are
still worked out in photo pixels (the authors' crop rounds its corners to whole photo pixels), so an
example from the region differs from one cut from the photo only by the resampling.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_path
from ..preprocessing import box_to_center_scale
from ..registry import Preprocessing
from .data import Sample

REGION = 2.0  # region side in crop sides


def region_size(pre: Preprocessing) -> int:
    return int(2 * pre.input_size)


def cut_region(image: np.ndarray, sample: Sample, pre: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """(R, R, 3) uint8 region around the sample's crop, and the 2x3 matrix from photo to region pixels."""
    center, scale = box_to_center_scale(sample.box, pre)
    side = REGION * pre.scale_factor * scale
    ix0, iy0 = int(math.floor(center[0] - side / 2)), int(math.floor(center[1] - side / 2))
    n = int(math.ceil(side)) + 1
    canvas = np.zeros((n, n, 3), np.uint8)  # outside the photo is black, as in the inference crop
    h, w = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(ix0, 0), max(iy0, 0), min(ix0 + n, w), min(iy0 + n, h)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - iy0:sy1 - iy0, sx0 - ix0:sx1 - ix0] = image[sy0:sy1, sx0:sx1]
    size = region_size(pre)
    k = size / n
    region = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    # pixel centres: photo pixel u lands at (u - ix0 + 0.5) * k - 0.5 in the region
    frame = np.array([[k, 0.0, (0.5 - ix0) * k - 0.5], [0.0, k, (0.5 - iy0) * k - 0.5]])
    return region, frame


def _key(samples: list[Sample], pre: Preprocessing) -> str:
    """What the regions depend on: the crop geometry (not the decoder), the photos and the boxes."""
    h = hashlib.sha256((repr(pre) + repr(REGION)).encode())
    for s in samples:
        stat = os.stat(s.image)
        h.update(f"{s.image}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        h.update(np.asarray(s.box, np.float64).tobytes())
    return h.hexdigest()[:16]


def cached_regions(samples: list[Sample], pre: Preprocessing, folder: Path,
                   progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The regions of ``samples`` (memory-mapped, read-only) and their photo -> region matrices.

    Built once per (faces, boxes, preprocessing) and reused by every process and every resume.
    """
    from tqdm import tqdm

    folder = Path(folder)
    key = _key(samples, pre)
    array_path, frames_path = folder / f"regions-{key}.npy", folder / f"frames-{key}.npy"
    if not (array_path.is_file() and frames_path.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        size = region_size(pre)
        regions = np.zeros((len(samples), size, size, 3), np.uint8)
        frames = np.zeros((len(samples), 2, 3))
        for i, sample in enumerate(tqdm(samples, desc="cutting face regions", disable=not progress)):
            image = cv2.imread(sample.image, cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"cannot read training image {sample.image}")
            regions[i], frames[i] = cut_region(image[:, :, ::-1], sample, pre)
        with atomic_path(array_path) as tmp, open(tmp, "wb") as f:
            np.save(f, regions)
        with atomic_path(frames_path) as tmp, open(tmp, "wb") as f:
            np.save(f, frames)
        for stale in [*folder.glob("regions-*.npy"), *folder.glob("frames-*.npy")]:
            if key not in stale.name:  # an older cache (other photos or geometry): 0.9 GB each
                stale.unlink()
    return np.load(array_path, mmap_mode="r"), np.load(frames_path)
