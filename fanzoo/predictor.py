"""Backend-independent prediction: detect -> crop -> batch -> backend -> decode -> depth. Numpy only.

The one engine behind every front door (CLI, Python API, evaluate, video, Ray): images and paths in,
:class:`Face` objects out, in the caller's pixel coordinates.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .backend import Session
from .decoding import SUBPIXEL_RULES, decode_heatmaps, flip_heatmaps, heatmap_to_image
from .depth_input import depth_network_input, depth_to_image
from .detection import FaceBox, FaceDetector, make_boxes
from .detection.framing import box_mapper
from .errors import InputError
from .inputs import Channels, ImageLike, PreparedImage, prepare_image
from .preprocessing import box_to_center_scale, crop, to_network_input
from .registry import ModelSpec, Preprocessing, is_whole_number

if TYPE_CHECKING:
    from .batch import PathResult
    from .video import OneEuroParams, TrackingOptions, VideoResults

log = logging.getLogger(__name__)

BoxesLike = Sequence[FaceBox | Sequence[float]]


@dataclass(frozen=True)
class Face:
    """One face: its box, the detector's score, 68 landmarks (x, y[, z]) in image pixels, and peak scores."""

    box: tuple[float, float, float, float]
    detector_score: float
    landmarks: np.ndarray  # (68, 2) or (68, 3), float64
    landmark_scores: np.ndarray  # (68,) heatmap peak values

    def scaled(self, factor: float) -> Face:
        """The same face in an image ``factor`` times larger (x, y, z and the box all scale)."""
        if factor == 1.0:
            return self
        return replace(self, box=tuple(float(v) * factor for v in self.box), landmarks=self.landmarks * factor)


@dataclass(frozen=True)
class FaceCrop:
    """One face ready for the network: the box it came from, the crop geometry and the uint8 crop."""

    box: FaceBox
    center: np.ndarray
    scale: float
    pixels: np.ndarray = field(repr=False)  # (S, S, 3) uint8


class Predictor:
    """Landmarks for every face of every image, all faces batched together through the backend.

    ``landmark_session`` maps (N, 3, S, S) crops to (N, 68, S/4, S/4) heatmaps; for a 3D model,
    ``depth_session`` maps (N, 71, S, S) to (N, 68) depths. ``preprocessing`` (default: the architecture's
    crop) and ``subpixel`` (the decoding rule; "quarter" is the authors') are the weights' contract: the
    artifact's MANIFEST holds them, and `fanzoo.api.load_predictor` passes them from there. ``batch_size``
    faces go through the network at a time; None: the model's measured default (``spec.default_batch``).
    """

    def __init__(self, spec: ModelSpec, landmark_session: Session, depth_session: Session | None = None,
                 detector: FaceDetector | None = None, flip: bool = False, batch_size: int | None = None,
                 preprocessing: Preprocessing | None = None, subpixel: str = "quarter",
                 weights: str | None = None) -> None:
        if spec.task != "landmarks" or spec.preprocessing is None:
            raise InputError(f"{spec.name} is not a landmark model; use it through the model that needs it")
        if spec.depth_model and depth_session is None:
            raise InputError(f"{spec.name} predicts 3D landmarks and needs a depth session ({spec.depth_model})")
        batch_size = spec.default_batch if batch_size is None else batch_size
        if not is_whole_number(batch_size) or batch_size < 1:
            raise InputError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
        if subpixel not in SUBPIXEL_RULES:
            raise InputError(f"unknown sub-pixel rule {subpixel!r}; known: {', '.join(SUBPIXEL_RULES)}")
        self.spec = spec
        self.pre = preprocessing or spec.preprocessing
        self.subpixel = subpixel
        self.weights = weights  # the weight tag the sessions run (model.tag), for the records that name it
        self.landmark_session = landmark_session
        self.depth_session = depth_session if spec.depth_model else None
        self.detector = detector
        # a detector's boxes, placed on each face as the boxes the model was trained on
        self._to_model_framing = box_mapper(getattr(detector, "framing", None), spec.box_framing)
        self.flip = flip
        self.batch_size = int(batch_size)

    # -- public API ---------------------------------------------------------------------------------
    def predict(self, image: ImageLike, boxes: BoxesLike | None = None, *, channels: Channels = "rgb") -> list[Face]:
        """Faces of one image, largest detector score first; an empty list when there is none.

        ``image`` is a path or a uint8 array: (H, W) grey, (H, W, 3) colour or (H, W, 4) with alpha, RGB unless
        ``channels="bgr"`` (OpenCV's ``cv2.imread`` order). ``boxes`` (x1, y1, x2, y2 in image pixels) skip the
        detector. Coordinates come back in the pixels of the image as given.
        """
        return self.predict_many([image], None if boxes is None else [boxes], channels=channels)[0]

    def predict_many(self, images: Sequence[ImageLike], boxes: Sequence[BoxesLike | None] | None = None, *,
                     channels: Channels = "rgb") -> list[list[Face]]:
        """Faces of several images; the faces of all of them share network batches."""
        if not isinstance(images, (Sequence, np.ndarray)) or (
                boxes is not None and not isinstance(boxes, (Sequence, np.ndarray))):
            raise InputError("predict_many takes a list of images and, optionally, a list of box lists")
        boxes = list(boxes) if boxes is not None else [None] * len(images)
        if len(boxes) != len(images):
            raise InputError(f"got {len(images)} images but {len(boxes)} box lists")
        prepared = [prepare_image(image, channels) for image in images]
        return self.predict_prepared(prepared, boxes)

    def predict_paths(self, inputs: Iterable[str | Path] | str | Path, *, recursive: bool = False,
                      progress: bool = False, boxes: Callable[[Path], BoxesLike | None] | None = None
                      ) -> Iterator[PathResult]:
        """One :class:`fanzoo.batch.PathResult` per image file, in order, failures included.

        Folders expand to the images inside them (``recursive`` walks subfolders too). Files are decoded a
        few at a time (the next few by a thread of their own while the network runs on these), so memory
        stays bounded on any number of files; a file that cannot be read or predicted is a result with
        ``error`` set, and the others go on. ``boxes(path)`` may return the faces' boxes of an image (in
        its pixels) to skip the detector, or None to detect.
        """
        from .batch import predict_paths

        return predict_paths(self, inputs, recursive=recursive, progress=progress, boxes=boxes)

    def predict_video(self, source: str | Path, *, start: float = 0.0, end: float | None = None, every: int = 1,
                      smooth: bool | OneEuroParams = True, options: TrackingOptions | None = None,
                      keep_frames: bool = False) -> VideoResults:
        """Per-frame results of a video file or stream URL, decoded and yielded one frame at a time, each face with
        a stable track id; frames in [start, end) seconds, every ``every``-th. See :func:`fanzoo.video.predict_video`."""
        from .video import predict_video

        return predict_video(self, source, start=start, end=end, every=every, smooth=smooth, options=options,
                             keep_frames=keep_frames)

    # -- the stages, for callers that split the work (video tracking, Ray) -------------------------------
    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """The detector's faces, their boxes mapped to the framing the model expects (given boxes are not)."""
        if self.detector is None:
            raise InputError("no face detector configured and no boxes given")
        return [self._to_model_framing(box) for box in self.detector.detect(rgb)]

    def predict_prepared(self, images: Sequence[PreparedImage],
                         boxes: Sequence[BoxesLike | None]) -> list[list[Face]]:
        """Faces of already decoded images, in their callers' coordinates (see :class:`PreparedImage`)."""
        per_image = [self.crops(image.rgb, None if given is None else scale_boxes(given, 1.0 / image.scale))
                     for image, given in zip(images, boxes)]
        flat = [c for crops in per_image for c in crops]
        faces = iter(self.landmarks(flat))
        return [[next(faces).scaled(image.scale) for _ in crops] for image, crops in zip(images, per_image)]

    def crops(self, rgb: np.ndarray, boxes: BoxesLike | None = None) -> list[FaceCrop]:
        """Detect (unless boxes are given) and crop every face of a uint8 RGB image."""
        if boxes is None:
            found = self.detect(rgb)
        else:
            found = make_boxes(boxes)
        out = []
        for box in found:
            center, scale = box_to_center_scale(box.as_tuple(), self.pre)
            out.append(FaceCrop(box, center, scale, crop(rgb, center, scale, self.pre)))
        return out

    def landmarks(self, crops: Sequence[FaceCrop]) -> list[Face]:
        """Run the network over crops, ``batch_size`` at a time, and decode each face."""
        faces: list[Face] = []
        for start in range(0, len(crops), self.batch_size):
            faces.extend(self._run(crops[start:start + self.batch_size]))
        return faces

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

    def _run(self, jobs: Sequence[FaceCrop]) -> list[Face]:
        batch = to_network_input([j.pixels for j in jobs])
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


def scale_boxes(boxes: BoxesLike, factor: float) -> list[FaceBox]:
    """Validated boxes, multiplied by ``factor`` (given boxes are in original pixels, the decode may be reduced)."""
    checked = make_boxes(boxes)
    if factor == 1.0:
        return checked
    return [FaceBox(b.x1 * factor, b.y1 * factor, b.x2 * factor, b.y2 * factor, b.score) for b in checked]
