"""Backend-independent prediction: detect -> crop -> batch -> backend -> decode -> depth. Numpy only."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .backend import Session
from .decoding import SUBPIXEL_RULES, decode_heatmaps, flip_heatmaps, heatmap_to_image
from .depth_input import depth_network_input, depth_to_image
from .detection import FaceBox, FaceDetector
from .errors import InputError
from .preprocessing import box_to_center_scale, crop, to_network_input
from .registry import ModelSpec, Preprocessing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Face:
    """One face: its box, the detector's score, 68 landmarks (x, y[, z]) in image pixels, and peak scores."""

    box: tuple[float, float, float, float]
    detector_score: float
    landmarks: np.ndarray  # (68, 2) or (68, 3), float64
    landmark_scores: np.ndarray  # (68,) heatmap peak values

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 3) for v in self.box],
            "detector_score": round(float(self.detector_score), 4),
            "landmarks": np.round(self.landmarks, 3).tolist(),
            "landmark_scores": np.round(self.landmark_scores.astype(np.float64), 4).tolist(),
        }


@dataclass(frozen=True)
class _Job:
    image_index: int
    box: FaceBox
    center: np.ndarray
    scale: float
    crop: np.ndarray = field(repr=False)


class Predictor:
    """Landmarks for every face of every image, all faces batched together through the backend.

    ``landmark_session`` maps (N, 3, S, S) crops to (N, 68, S/4, S/4) heatmaps; for a 3D model,
    ``depth_session`` maps (N, 71, S, S) to (N, 68) depths. ``preprocessing`` (default: the architecture's
    crop) and ``subpixel`` (the decoding rule; "quarter" is the authors') are the weights' contract: the
    artifact's MANIFEST holds them, and `fanzoo.api.load_predictor` passes them from there.
    """

    def __init__(self, spec: ModelSpec, landmark_session: Session, depth_session: Session | None = None,
                 detector: FaceDetector | None = None, flip: bool = False, batch_size: int = 8,
                 preprocessing: Preprocessing | None = None, subpixel: str = "quarter") -> None:
        if spec.task != "landmarks" or spec.preprocessing is None:
            raise InputError(f"{spec.name} is not a landmark model; use it through the model that needs it")
        if spec.depth_model and depth_session is None:
            raise InputError(f"{spec.name} predicts 3D landmarks and needs a depth session ({spec.depth_model})")
        if batch_size < 1:
            raise InputError("batch_size must be at least 1")
        if subpixel not in SUBPIXEL_RULES:
            raise InputError(f"unknown sub-pixel rule {subpixel!r}; known: {', '.join(SUBPIXEL_RULES)}")
        self.spec = spec
        self.pre = preprocessing or spec.preprocessing
        self.subpixel = subpixel
        self.landmark_session = landmark_session
        self.depth_session = depth_session if spec.depth_model else None
        self.detector = detector
        self.flip = flip
        self.batch_size = batch_size

    # -- public API ---------------------------------------------------------------------------------
    def predict(self, image: np.ndarray, boxes: Sequence[FaceBox | Sequence[float]] | None = None) -> list[Face]:
        """Faces of one uint8 RGB image; an empty list when there is none."""
        return self.predict_many([image], None if boxes is None else [boxes])[0]

    def predict_many(self, images: Sequence[np.ndarray],
                     boxes: Sequence[Sequence[FaceBox | Sequence[float]] | None] | None = None) -> list[list[Face]]:
        """Faces of several images; the faces of all of them share network batches."""
        boxes = list(boxes) if boxes is not None else [None] * len(images)
        if len(boxes) != len(images):
            raise InputError(f"got {len(images)} images but {len(boxes)} box lists")
        jobs = [job for i, (image, given) in enumerate(zip(images, boxes))
                for job in self._jobs(i, check_image(image), given)]
        results: list[list[Face]] = [[] for _ in images]
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start:start + self.batch_size]
            for job, face in zip(chunk, self._run(chunk)):
                results[job.image_index].append(face)
        return results

    # -- steps ----------------------------------------------------------------------------------------
    def _jobs(self, index: int, image: np.ndarray, given: Sequence | None) -> Iterable[_Job]:
        if given is None:
            if self.detector is None:
                raise InputError("no face detector configured and no boxes given")
            found = self.detector.detect(image)
        else:
            found = [b if isinstance(b, FaceBox) else FaceBox(*map(float, b[:4]), score=1.0) for b in given]
        for box in found:
            center, scale = box_to_center_scale(box.as_tuple(), self.pre)
            yield _Job(index, box, center, scale, crop(image, center, scale, self.pre))

    def heatmaps(self, batch: np.ndarray) -> np.ndarray:
        """Network output for a (N, 3, S, S) batch, with the authors' flip test-time augmentation if on."""
        name_in, name_out = self.landmark_session.input_names[0], self.landmark_session.output_names[0]
        if not self.flip:
            return self.landmark_session.run({name_in: batch})[name_out]
        # the mirrored crops ride in the same batch, which is cheaper than a second call
        both = np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])])
        out = self.landmark_session.run({name_in: both})[name_out]
        n = len(batch)
        return out[:n] + flip_heatmaps(out[n:])

    def _run(self, jobs: list[_Job]) -> list[Face]:
        batch = to_network_input([j.crop for j in jobs])
        coords, scores = decode_heatmaps(self.heatmaps(batch), self.subpixel)
        size = self.pre.heatmap_size
        landmarks = [heatmap_to_image(coords[i], j.center, j.scale, size, self.pre.scale_factor)
                     for i, j in enumerate(jobs)]
        if self.depth_session is not None:
            depth_in = np.stack([depth_network_input(batch[i], coords[i], self.pre.heatmap_stride)
                                 for i in range(len(jobs))])
            session = self.depth_session
            depth = session.run({session.input_names[0]: depth_in})[session.output_names[0]]
            landmarks = [np.concatenate([xy, depth_to_image(depth[i], j.scale, self.pre.input_size,
                                                            self.pre.scale_factor)[:, None]], axis=1)
                         for i, (xy, j) in enumerate(zip(landmarks, jobs))]
        return [Face(j.box.as_tuple(), j.box.score, lm, scores[i]) for i, (j, lm) in enumerate(zip(jobs, landmarks))]


def check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InputError(f"images must be uint8 RGB arrays of shape (H, W, 3), got {dtype} {shape} "
                         "(fanzoo.imageio.read_image converts files)")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError("the image is empty")
    return image
