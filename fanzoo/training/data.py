"""Training samples: detector-like boxes, augmentation (flip, rotation, scale, shift, colour) and heatmap targets.

Geometry follows the predictor: a box becomes (centre, scale) exactly as at inference, and a landmark at
image point p has heatmap coordinate (p - (c - h/2)) * H / h with h = 200 * scale. Heatmap pixel i is
coordinate i + 0.5, as the authors' decoder reads it.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..decoding import FLIP_PAIRS
from ..preprocessing import box_to_center_scale
from ..pts import annotated_images, read_pts
from ..registry import Preprocessing


@dataclass(frozen=True)
class Augmentation:
    """Random changes per training face. The box jitter (scale, shift) stands for the spread of detector
    boxes around the mean detector-like box; rotation covers tilted heads that 300-W has few of."""

    flip: float = 0.5  # probability; landmarks swap sides with FLIP_PAIRS
    rotation: float = 30.0  # degrees, uniform in [-r, r], applied with probability rotate_p
    rotate_p: float = 0.6
    scale: float = 0.12  # box size jitter, log-uniform in [1/(1+s), 1+s]
    shift: float = 0.06  # box centre jitter, in box sizes
    colour: float = 0.25  # per-channel gain in [1-c, 1+c], brightness offset +-c*64
    # Target gaussian, in heatmap pixels. The decoder takes the arg-max and nudges it 0.25 px toward the
    # larger neighbour, so what matters is a peak whose top pixel and neighbour order are unambiguous:
    # with sigma 1 a neighbour holds 0.61 of the peak, with sigma 2 0.88, which prediction noise flips
    # easily. Sigma 1 still spreads the gradient over ~3x3 pixels, and at 48 px maps (outer-eye-corner
    # distance ~13.5 px) it is 0.07 of that distance: tight enough that a peak on one landmark does not
    # merge with its neighbours' along the jaw and lips.
    sigma: float = 1.0


@dataclass(frozen=True)
class Sample:
    image: str
    points: np.ndarray  # (68, 2) 0-based
    box: tuple[float, float, float, float]  # detector-like box


def box_model(samples_dir: Path) -> dict[str, float]:
    """How dlib HOG boxes sit relative to the landmarks' box (mean offsets and size ratio), measured once.

    Training crops are cut from boxes made this way, so the network sees faces framed as the default
    detector frames them at inference.
    """
    from ..detection.dlib_hog import DlibHogDetector
    from ..imageio import read_image
    from ..metrics import iou

    detector = DlibHogDetector()
    rows = []
    for image_path, pts_path in annotated_images(samples_dir)[::4]:
        pts = read_pts(pts_path)
        (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
        size = math.sqrt((x2 - x1) * (y2 - y1))
        found = [b for b in detector.detect(read_image(image_path)) if iou(b.as_tuple(), (x1, y1, x2, y2)) >= 0.3]
        if found:
            b = found[0]
            rows.append(((b.x1 + b.x2) / 2 - (x1 + x2) / 2, (b.y1 + b.y2) / 2 - (y1 + y2) / 2,
                         b.x2 - b.x1, b.y2 - b.y1, size))
    a = np.array(rows)
    return {"dx": float(np.median(a[:, 0] / a[:, 4])), "dy": float(np.median(a[:, 1] / a[:, 4])),
            "w": float(np.median(a[:, 2] / a[:, 4])), "h": float(np.median(a[:, 3] / a[:, 4])), "n": len(rows)}


def detector_like_box(points: np.ndarray, model: dict[str, float]) -> tuple[float, float, float, float]:
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    size = math.sqrt((x2 - x1) * (y2 - y1))
    cx, cy = (x1 + x2) / 2 + model["dx"] * size, (y1 + y2) / 2 + model["dy"] * size
    w, h = model["w"] * size, model["h"] * size
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def load_samples(folder: Path, model: dict[str, float]) -> list[Sample]:
    return [Sample(str(img), pts, detector_like_box(pts, model))
            for img, pts_path in annotated_images(folder) for pts in [read_pts(pts_path)]]


def load_box_model(folder: Path, cache: Path) -> dict[str, float]:
    if cache.is_file():
        return json.loads(cache.read_text())
    model = box_model(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(model, indent=2))
    return model


def affine_rows(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def crop_matrices(box: tuple[float, ...], pre: Preprocessing, angle: float = 0.0, scale_mul: float = 1.0,
                  shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """(image -> crop pixel, image -> heatmap coordinate) 2x3 matrices for a box, with augmentation.

    The crop reproduces the authors' crop geometry (integer corners, then a resize with half-pixel
    centres), and the targets use the decoder's convention, so training sees what inference sees.
    """
    from ..preprocessing import _corner

    center, scale = box_to_center_scale(box, pre)
    size = math.sqrt((box[2] - box[0]) * (box[3] - box[1]))
    center = center + np.array(shift) * size
    scale *= scale_mul
    res, h = float(pre.input_size), pre.scale_factor * scale
    ul = _corner((1, 1), center, scale, res, pre.scale_factor)
    br = _corner((res, res), center, scale, res, pre.scale_factor)
    k = res / float(br[0] - ul[0])
    to_crop = np.array([[k, 0, (0.5 - ul[0]) * k - 0.5], [0, k, (0.5 - ul[1]) * k - 0.5]])
    t = pre.heatmap_size / h
    to_heatmap = np.array([[t, 0, -t * (center[0] - h / 2)], [0, t, -t * (center[1] - h / 2)]])
    rotate = affine_rows(cv2.getRotationMatrix2D((float(center[0]), float(center[1])), angle, 1.0))
    return (affine_rows(to_crop) @ rotate)[:2], (affine_rows(to_heatmap) @ rotate)[:2]


def heatmaps(coords: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(68, 2) heatmap coordinates -> (68, size, size) gaussians peaking at pixel centre c - 0.5."""
    grid = np.arange(size, dtype=np.float32) + 0.5
    gx = np.exp(-((grid[None, :] - coords[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((grid[None, :] - coords[:, 1:]) ** 2) / (2 * sigma**2))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def make_example(sample: Sample, pre: Preprocessing, aug: Augmentation | None, rng: np.random.Generator,
                 image: np.ndarray | None = None,
                 frame: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(3, S, S) float input, (68, H, H) target, (68, 2) heatmap coordinates of the points.

    By default the sample's photo is read. ``image`` with ``frame`` stands in for it: a cut region of the
    photo (crops.py) and the 2x3 matrix from photo to region pixels. The geometry, the authors' integer
    crop corners included, is still worked out in photo pixels, so the example is the photo's.
    """
    if image is None:
        image = cv2.imread(sample.image, cv2.IMREAD_COLOR)[:, :, ::-1]
    angle, scale_mul, shift = 0.0, 1.0, (0.0, 0.0)
    if aug is not None:
        if rng.random() < aug.rotate_p:
            angle = float(rng.uniform(-aug.rotation, aug.rotation))
        scale_mul = float(math.exp(rng.uniform(-1, 1) * math.log(1 + aug.scale)))
        shift = tuple(rng.uniform(-aug.shift, aug.shift, 2))
    to_crop, to_heatmap = crop_matrices(sample.box, pre, angle, scale_mul, shift)
    if frame is not None:
        to_crop = (affine_rows(to_crop) @ np.linalg.inv(affine_rows(frame)))[:2]
    size = pre.input_size
    crop = cv2.warpAffine(np.ascontiguousarray(image), to_crop, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    coords = sample.points @ to_heatmap[:, :2].T + to_heatmap[:, 2]
    if aug is not None and rng.random() < aug.flip:
        crop = crop[:, ::-1]
        coords = coords[FLIP_PAIRS].copy()
        coords[:, 0] = pre.heatmap_size - coords[:, 0]  # pixel i <-> H-1-i, coordinate c = i + 0.5
    x = crop.astype(np.float32)
    if aug is not None:
        gain = rng.uniform(1 - aug.colour, 1 + aug.colour, 3).astype(np.float32)
        x = np.clip(x * gain + rng.uniform(-aug.colour, aug.colour) * 64, 0, 255)
    coords = coords.astype(np.float32)
    target = heatmaps(coords, pre.heatmap_size, aug.sigma if aug else 1.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1) / 255.0, dtype=np.float32), target, coords
