"""predict_video: a video's frames through the tracker, one result per frame, never the whole video in memory."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FanzooError
from .reader import Frame, VideoInfo, VideoReader
from .smoothing import OneEuroParams
from .tracking import FaceTracker, TrackedFace, TrackingOptions

if TYPE_CHECKING:
    from ..predictor import Predictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoFrameResult:
    """One frame: its index in the video (from 0), time in seconds, and faces with track ids (by id); or the
    reason it failed (``error``, faces empty). ``rgb`` holds the frame only when asked for (``keep_frames``)."""

    index: int
    time: float | None
    faces: list[TrackedFace] = field(default_factory=list)
    error: str | None = None
    rgb: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None


class VideoResults:
    """The frames' results in order, produced as they are iterated; ``info`` describes the video.

    Use it as an iterator (the video closes when it is exhausted) or in a ``with`` block to close it early.
    """

    def __init__(self, predictor: Predictor, source: str | Path, start: float, end: float | None, every: int,
                 options: TrackingOptions, keep_frames: bool) -> None:
        tracker = FaceTracker(predictor, options)  # checks the predictor before the video is opened
        self._reader = VideoReader(source)
        self.info: VideoInfo = self._reader.info
        self._results = self._run(tracker, start, end, every, keep_frames)

    def _run(self, tracker: FaceTracker, start: float, end: float | None, every: int,
             keep_frames: bool) -> Iterator[VideoFrameResult]:
        try:
            for frame in self._reader.frames(start, end, every):
                yield self._predict(tracker, frame, keep_frames)
        finally:
            self._reader.close()

    def _predict(self, tracker: FaceTracker, frame: Frame, keep_frames: bool) -> VideoFrameResult:
        if frame.rgb is None:
            log.debug("%s: frame %d: %s", self.info.source, frame.index, frame.error)
            return VideoFrameResult(frame.index, frame.time, [], frame.error)
        fps = self.info.fps
        time = frame.time if frame.time is not None else (frame.index / fps if fps else float(frame.index))
        try:
            faces = tracker.update(frame.rgb, time)
        except (FanzooError, MemoryError) as exc:
            return VideoFrameResult(frame.index, frame.time, [], f"prediction failed: {exc}",
                                    frame.rgb if keep_frames else None)
        return VideoFrameResult(frame.index, frame.time, faces, None, frame.rgb if keep_frames else None)

    def __iter__(self) -> Iterator[VideoFrameResult]:
        return self._results

    def __next__(self) -> VideoFrameResult:
        return next(self._results)

    def close(self) -> None:
        self._results.close()
        self._reader.close()

    def __enter__(self) -> VideoResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def predict_video(predictor: Predictor, source: str | Path, *, start: float = 0.0, end: float | None = None,
                  every: int = 1, smooth: bool | OneEuroParams = True, options: TrackingOptions | None = None,
                  keep_frames: bool = False) -> VideoResults:
    """The results of every frame of ``source`` (a video file or a stream URL FFmpeg opens), produced as they are
    iterated: frames whose time is in [``start``, ``end``) seconds, every ``every``-th of them.

    ``smooth``: the One Euro filter on each track's landmarks, on by default (True: default parameters; an
    :class:`OneEuroParams`: those; False: off). ``options`` sets tracking (:class:`TrackingOptions`); its own
    ``smoothing`` is replaced by ``smooth``. ``keep_frames`` puts each frame's pixels in its result (to draw it).
    A video that cannot be opened raises :class:`fanzoo.video.VideoError` here, before any frame.
    """
    params = OneEuroParams() if smooth is True else (smooth or None)
    chosen = replace(options or TrackingOptions(), smoothing=params)
    return VideoResults(predictor, source, start, end, every, chosen, keep_frames)
