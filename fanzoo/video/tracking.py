"""Face tracks across frames: detect on the first frame, then place each face's box from its landmarks in the
previous frame; detect again when a track is lost or drifts, and every K frames to find new faces.

Track ids come from IoU association, so a face keeps its id across detections and brief misses.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..detection import FaceBox
from ..detection.framing import Framing, box_from_landmarks, get_framing
from ..errors import InputError
from ..metrics import iou
from ..predictor import Face
from ..preprocessing import box_to_center_scale
from ..registry import Preprocessing
from .smoothing import LandmarkSmoother, OneEuroParams

if TYPE_CHECKING:
    from ..predictor import FaceCrop, Predictor




@dataclass(frozen=True)
class TrackedFace(Face):
    """A :class:`fanzoo.Face` with the id of its track: the same face keeps the same id from frame to frame."""

    track_id: int = -1


@dataclass(frozen=True)
class TrackingOptions:
    """``tracking`` False detects on every frame (ids still associated); ``detect_every`` is how many processed
    frames pass before the detector looks for new faces again; a track whose mean landmark score falls under
    ``min_score`` times its score when the detector last confirmed it (relative, so it fits any model's heatmap
    scale), or whose landmarks leave its box (IoU under ``drift_iou``), is re-detected; a lost track keeps
    its id for ``max_misses`` processed frames; ``match_iou`` is the least overlap that continues a track."""

    tracking: bool = True
    detect_every: int = 30
    min_score: float = 0.75
    drift_iou: float = 0.5
    match_iou: float = 0.3
    max_misses: int = 10
    smoothing: OneEuroParams | None = field(default_factory=OneEuroParams)

    def __post_init__(self) -> None:
        if not isinstance(self.detect_every, int) or self.detect_every < 1:
            raise InputError(f"detect_every must be a whole number >= 1, got {self.detect_every!r}")
        if not isinstance(self.max_misses, int) or self.max_misses < 0:
            raise InputError(f"max_misses must be a whole number >= 0, got {self.max_misses!r}")
        for name in ("min_score", "drift_iou", "match_iou"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be a number in [0, 1], got {value!r}")


@dataclass
class _Track:
    id: int
    box: FaceBox  # where the face was last seen (the box its crop came from)
    next_box: FaceBox  # the box for the next frame, framed on the last landmarks
    filter: LandmarkSmoother | None
    confirmed_score: float = 0.0  # mean landmark score when the detector last vouched for the face
    misses: int = 0  # processed frames in a row without this face
    redetect: bool = False  # the landmarks left the box: ask the detector next frame


def pixel_aligned(box: FaceBox, pre: Preprocessing) -> FaceBox:
    """The box moved by under half a pixel and resized by under a pixel, so that its crop's corners fall half way
    between whole pixels.

    The authors' crop truncates its corners to whole pixels while the landmarks are mapped back through the
    unrounded box: as a box glides, that rounding shifts every point by up to a pixel, a sawtooth that reads
    as jitter. Mid-pixel corners make the offset the same in every frame (and keep float32 rounding away from
    the truncation)."""
    keep = 1.0 - 1.0 / pre.input_size  # the crop spans h * keep pixels between its truncated corners
    _, scale = box_to_center_scale(box.as_tuple(), pre)
    h = pre.scale_factor * scale
    f = max(round(h * keep), 1) / keep / h
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    half_w, half_h = (box.x2 - box.x1) * f / 2, (box.y2 - box.y1) * f / 2
    center, scale = box_to_center_scale((cx - half_w, cy - half_h, cx + half_w, cy + half_h), pre)
    h = pre.scale_factor * scale
    corner = center - h / 2 + h / pre.input_size
    dx, dy = np.floor(corner) + 0.5 - corner
    return FaceBox(cx - half_w + dx, cy - half_h + dy, cx + half_w + dx, cy + half_h + dy, box.score)


def _associate(boxes: list[FaceBox], tracks: list[_Track], min_iou: float) -> dict[int, _Track]:
    """Detection index -> track, greedily by highest IoU (live tracks by their next box, lost ones by the last)."""
    pairs = []
    for i, box in enumerate(boxes):
        for track in tracks:
            reference = track.next_box if track.misses == 0 else track.box
            overlap = iou(box.as_tuple(), reference.as_tuple())
            if overlap >= min_iou:
                pairs.append((overlap, i, track.id, track))
    matched: dict[int, _Track] = {}
    used: set[int] = set()
    for _, i, track_id, track in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        if i not in matched and track_id not in used:
            matched[i] = track
            used.add(track_id)
    return matched


class FaceTracker:
    """Landmarks of every face in a sequence of frames, each face with a stable track id, through the predictor's
    stages (``crops`` and ``landmarks``): the faces of a frame share the network's batches (the predictor's
    batch size)."""

    def __init__(self, predictor: Predictor, options: TrackingOptions = TrackingOptions(),
                 framing: str | Framing | None = None) -> None:
        if predictor.detector is None:
            raise InputError("video needs a face detector: load the predictor with one (detector=...)")
        # boxes framed as the model's training boxes were (the detector's are mapped to the same framing)
        framing = framing or predictor.spec.box_framing or getattr(predictor.detector, "framing", None)
        if framing is None:
            raise InputError(f"cannot track faces for {predictor.spec.name}: neither it nor the detector declares "
                             "how boxes frame a face; pass framing= (a name in fanzoo.detection.framing)")
        self.predictor, self.options, self.framing = predictor, options, get_framing(framing)
        self._tracks: list[_Track] = []
        self._ids = itertools.count()
        self._since_detection = 0

    def _needs_detection(self) -> bool:
        live = [t for t in self._tracks if t.misses == 0]
        return (not self.options.tracking or not live or any(t.redetect or t.misses for t in self._tracks)
                or self._since_detection >= self.options.detect_every)

    def _plan(self, rgb: np.ndarray) -> list[tuple[_Track, FaceCrop, bool]]:
        """This frame's (track, crop, whether the detector vouches for the face), new tracks included."""
        live = [t for t in self._tracks if t.misses == 0]
        if not self._needs_detection():
            self._since_detection += 1
            return [(t, c, False) for t, c in zip(live, self.predictor.crops(rgb, [t.next_box for t in live]))]
        self._since_detection = 1
        found = self.predictor.crops(rgb)  # detector boxes, mapped to the model's framing
        matched = _associate([c.box for c in found], self._tracks, self.options.match_iou)
        plan = []
        for i, crop in enumerate(found):
            track = matched.get(i)
            if track is None:
                track = _Track(next(self._ids), crop.box, crop.box, self._new_filter())
                self._tracks.append(track)
            elif self.options.tracking and track.misses == 0 and not track.redetect:
                # a face the tracker holds keeps its landmark-framed box: the detector's would jolt it
                crop = self.predictor.crops(rgb, [track.next_box])[0]
            plan.append((track, crop, True))
        if self.options.tracking:  # faces the detector missed this time but the tracker still holds
            held = [t for t in live if t not in matched.values()]
            plan += [(t, c, False) for t, c in zip(held, self.predictor.crops(rgb, [t.next_box for t in held]))]
        return sorted(plan, key=lambda p: p[0].id)

    def _new_filter(self) -> LandmarkSmoother | None:
        return LandmarkSmoother(self.options.smoothing) if self.options.smoothing is not None else None

    def update(self, rgb: np.ndarray, time: float) -> list[TrackedFace]:
        """The faces of the next frame (uint8 RGB, at ``time`` seconds), ordered by track id."""
        plan = self._plan(rgb)
        faces = self.predictor.landmarks([crop for _, crop, _ in plan])
        out: list[TrackedFace] = []
        seen: set[int] = set()
        for (track, crop, detected), face in zip(plan, faces):
            mean_score = float(np.mean(face.landmark_scores))
            if detected:
                track.confirmed_score = mean_score
            elif mean_score < self.options.min_score * track.confirmed_score:
                continue  # lost: re-detect next frame
            framed = pixel_aligned(box_from_landmarks(face.landmarks, self.framing, crop.box.score), self.predictor.pre)
            if any(iou(framed.as_tuple(), t.next_box.as_tuple()) > 0.6 for t in self._tracks if t.id in seen):
                continue  # two tracks on one face: the older one (lower id, seen first) keeps it
            if track.filter is not None:
                # after the box is framed: smoothing only changes what is reported, never what the network sees
                if track.misses:
                    track.filter.reset()
                face = replace(face, landmarks=track.filter(face.landmarks, time))
            track.redetect = iou(framed.as_tuple(), crop.box.as_tuple()) < self.options.drift_iou
            track.box, track.next_box, track.misses = crop.box, framed, 0
            seen.add(track.id)
            out.append(TrackedFace(face.box, face.detector_score, face.landmarks, face.landmark_scores, track.id))
        for track in self._tracks:
            if track.id not in seen:
                track.misses += 1
        self._tracks = sorted((t for t in self._tracks if t.misses <= self.options.max_misses), key=lambda t: t.id)
        return sorted(out, key=lambda f: f.track_id)
