"""Video: landmarks for every frame of a file or stream, with stable track ids and One Euro smoothing.

    import fanzoo
    predictor = fanzoo.load_predictor()
    for frame in predictor.predict_video("clip.mp4"):   # one VideoFrameResult per frame, as it is decoded
        for face in frame.faces:
            face.track_id, face.landmarks                # (68, 2) float64, image pixels
"""
from __future__ import annotations

from .engine import VideoFrameResult, VideoResults, predict_video
from .reader import VIDEO_SUFFIXES, Frame, VideoError, VideoInfo, VideoReader, is_video_source
from .smoothing import OneEuroFilter, OneEuroParams
from .tracking import FaceTracker, TrackedFace, TrackingOptions

__all__ = [
    "predict_video", "VideoResults", "VideoFrameResult", "TrackedFace", "TrackingOptions", "FaceTracker",
    "OneEuroParams", "OneEuroFilter", "VideoReader", "VideoInfo", "Frame", "VideoError", "VIDEO_SUFFIXES",
    "is_video_source",
]
