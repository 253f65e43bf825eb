"""A test clip with known landmarks in every frame: 300-W faces moved along smooth trajectories
(translation, scale, in-plane rotation), each frame's ground truth the same warp applied to the .pts points."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fanzoo.imageio import read_image
from fanzoo.metrics import interocular
from fanzoo.pts import annotated_images, read_pts

BACKGROUND = 96  # grey; a flat background gives the detector nothing to take for a face


@dataclass(frozen=True)
class Clip:
    path: Path
    fps: float
    truth: np.ndarray  # (frames, faces per frame, 68, 2) landmarks in frame pixels
    segment: np.ndarray  # (frames,) which segment (a scene: the same faces) each frame belongs to


def pick_faces(folder: Path, count: int, min_interocular: float = 80.0) -> list[tuple[Path, Path]]:
    """The first ``count`` annotated images (in name order) whose face is large enough to be scaled down cleanly."""
    chosen = []
    for image, pts in annotated_images(folder):
        if interocular(read_pts(pts)) >= min_interocular:
            chosen.append((image, pts))
            if len(chosen) == count:
                break
    return chosen


def _warp(points: np.ndarray, center: np.ndarray, face: float, target: tuple[float, float], size: float,
          angle: float) -> np.ndarray:
    """2x3 matrix: the face centred at ``target``, its landmark box ``size`` px across, turned by ``angle`` deg."""
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), angle, size / face)
    m[:, 2] += np.asarray(target) - center
    return m


def trajectory(t: np.ndarray, frames: int, slot: tuple[float, float], size: float, seed: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth motion over ``frames``: centre (t, 2) swinging around ``slot``, face size (t,), angle (t,) degrees."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi, 4)
    u = 2 * math.pi * t / frames
    center = np.stack([slot[0] + 0.35 * size * np.sin(u + phase[0]),
                       slot[1] + 0.2 * size * np.sin(2 * u + phase[1])], axis=1)
    scale = size * (1.0 + 0.15 * np.sin(u + phase[2]))
    angle = 12.0 * np.sin(u + phase[3])
    return center, scale, angle


def make_clip(path: Path, faces: list[tuple[Path, Path]], frames_per_segment: int, faces_per_frame: int = 1,
              width: int = 640, height: int = 480, fps: float = 25.0, face_size: float = 150.0) -> Clip:
    """Segments of ``faces_per_frame`` faces side by side (one segment per group of faces, cut between them),
    written as MJPEG at quality 95; returns the clip's ground truth."""
    groups = [faces[i:i + faces_per_frame] for i in range(0, len(faces) - faces_per_frame + 1, faces_per_frame)]
    truth, segment = [], []
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    try:
        for s, group in enumerate(groups):
            sources = [(read_image(img), read_pts(pts)) for img, pts in group]
            t = np.arange(frames_per_segment, dtype=np.float64)
            motions = [trajectory(t, frames_per_segment, ((k + 0.5) * width / len(group), height * 0.5), face_size,
                                  seed=100 * s + k) for k in range(len(group))]
            for i in range(frames_per_segment):
                frame = np.full((height, width, 3), BACKGROUND, np.uint8)
                points_now = []
                for (rgb, pts), (center, scale, angle) in zip(sources, motions):
                    (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
                    face = math.sqrt((x2 - x1) * (y2 - y1))
                    m = _warp(pts, (pts.min(0) + pts.max(0)) / 2, face, center[i], scale[i], angle[i])
                    warped = cv2.warpAffine(rgb, m, (width, height), flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_CONSTANT, borderValue=(BACKGROUND,) * 3)
                    # each face brings a patch of its photo 1.8 face sizes across, so faces never overlap
                    mask = np.zeros(rgb.shape[:2], np.uint8)
                    c = (pts.min(0) + pts.max(0)) / 2
                    r = 0.9 * face
                    cv2.rectangle(mask, (int(c[0] - r), int(c[1] - r)), (int(c[0] + r), int(c[1] + r)), 255, -1)
                    keep = cv2.warpAffine(mask, m, (width, height), flags=cv2.INTER_NEAREST) > 0
                    frame[keep] = warped[keep]
                    points_now.append(pts @ m[:, :2].T + m[:, 2])
                writer.write(frame[:, :, ::-1])
                truth.append(points_now)
                segment.append(s)
    finally:
        writer.release()
    return Clip(path, fps, np.asarray(truth), np.asarray(segment))
