"""The annotated video: each frame with its faces' boxes, landmarks and track ids, encoded through FFmpeg (PyAV).

The file is written beside its target and renamed into place when complete, so a failed or interrupted run
leaves no half-written video and any previous one intact.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..draw import annotate
from ..errors import InputError
from .tracking import TrackedFace

log = logging.getLogger(__name__)

# codecs by container, most widely playable first (a PyAV built on a system FFmpeg may lack libx264)
CODECS = {".mp4": ("libx264", "h264", "mpeg4"), ".m4v": ("libx264", "h264", "mpeg4"),
          ".mov": ("libx264", "h264", "mpeg4"), ".mkv": ("libx264", "h264", "mpeg4"),
          ".avi": ("mjpeg",), ".webm": ("libvpx-vp9", "libvpx")}
CODEC_OPTIONS = {"libx264": {"preset": "veryfast", "crf": "20"}}


def video_codec(path: Path) -> str:
    """The codec an annotated video of this name is written with; :class:`InputError` for an unknown suffix."""
    from .reader import pyav

    av = pyav()

    choices = CODECS.get(path.suffix.lower())
    if choices is None:
        raise InputError(f"{path}: annotated videos are written as {', '.join(sorted(CODECS))}; "
                         f"not {path.suffix or 'a name without suffix'!r}")
    for codec in choices:
        if codec in av.codecs_available:
            return codec
    raise InputError(f"{path}: this FFmpeg (PyAV {av.__version__}) has none of the encoders {', '.join(choices)}")


def draw_frame(rgb: np.ndarray, faces: Sequence[TrackedFace]) -> np.ndarray:
    """The frame with :func:`fanzoo.draw.annotate`'s boxes and landmarks, and each face's track id."""
    out = annotate(rgb, faces)
    height = max(12, round(max(rgb.shape[:2]) / 40))
    for face in faces:
        x1, y1 = int(round(face.box[0])), int(round(face.box[1]))
        cv2.putText(out, str(face.track_id), (x1, max(height, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, height / 30,
                    (255, 200, 0), max(1, height // 12), cv2.LINE_AA)
    return out


class AnnotatedVideoWriter:
    """Appends annotated frames at a constant rate; ``close()`` (or the ``with`` block) publishes the file."""

    def __init__(self, path: Path | str, fps: float, width: int, height: int) -> None:
        from .reader import pyav

        av = pyav()

        from ..atomic import atomic_path

        self.path = Path(path)
        codec = video_codec(self.path)
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path, suffix=self.path.suffix))
        self._container = av.open(str(tmp), "w")
        self._stack.callback(self._container.close)
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        stream = self._container.add_stream(codec, rate=rate, options=CODEC_OPTIONS.get(codec, {}))
        # 4:2:0 chroma needs even sides: odd frames get one black row or column
        self._width, self._height = width + width % 2, height + height % 2
        stream.width, stream.height = self._width, self._height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        self._stream = stream
        self.frames = 0

    def write(self, rgb: np.ndarray, faces: Sequence[TrackedFace] = ()) -> None:
        import av

        image = draw_frame(rgb, faces) if faces else rgb
        if image.shape[:2] != (self._height, self._width):
            padded = np.zeros((self._height, self._width, 3), np.uint8)
            h, w = min(image.shape[0], self._height), min(image.shape[1], self._width)
            padded[:h, :w] = image[:h, :w]
            image = padded
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and publish the file under its name."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._stack.close()

    def abort(self) -> None:
        """Drop the file: nothing appears under the name, a previous file there stays."""
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
