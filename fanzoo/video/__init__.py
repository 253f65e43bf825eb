"""Video: landmarks for every frame of a file or stream, with stable track ids and One Euro smoothing.

    import fanzoo
    predictor = fanzoo.load_predictor()
    for frame in predictor.predict_video("clip.mp4"):   # one VideoFrameResult per frame, as it is decoded
        for face in frame.faces:
            face.track_id, face.landmarks                # (68, 2) float64, image pixels
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name is imported on first use: `fanzoo predict` on images asks only whether an input is a video, and
# a still-image process should not pay for the tracker, the engine and the predictor's video path at start-up.
_WHERE = {
    "predict_video": "engine", "VideoResults": "engine", "VideoFrameResult": "engine",
    "TrackedFace": "tracking", "TrackingOptions": "tracking", "FaceTracker": "tracking",
    "OneEuroParams": "smoothing", "OneEuroFilter": "smoothing",
    "VideoReader": "reader", "VideoInfo": "reader", "Frame": "reader", "VideoError": "reader",
    "VIDEO_SUFFIXES": "reader", "is_video_source": "reader",
}
__all__ = [
    "predict_video", "VideoResults", "VideoFrameResult", "TrackedFace", "TrackingOptions", "FaceTracker",
    "OneEuroParams", "OneEuroFilter", "VideoReader", "VideoInfo", "Frame", "VideoError", "VIDEO_SUFFIXES",
    "is_video_source",
]

if TYPE_CHECKING:
    from .engine import VideoFrameResult, VideoResults, predict_video
    from .reader import VIDEO_SUFFIXES, Frame, VideoError, VideoInfo, VideoReader, is_video_source
    from .smoothing import OneEuroFilter, OneEuroParams
    from .tracking import FaceTracker, TrackedFace, TrackingOptions


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
