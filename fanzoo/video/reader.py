"""Video frames one at a time through FFmpeg (PyAV): any file or stream URL it opens, with each frame's index
and timestamp, and every damaged or missing frame reported by number instead of ending the run."""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

# Frames larger than this are refused before any is decoded (a frame is held as uint8 RGB: 150 MB here).
MAX_FRAME_PIXELS = 50_000_000
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                            ".3gp", ".ts", ".mts", ".m2ts", ".ogv", ".mxf", ".y4m"})
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
ANNOUNCED_SLACK = 2  # frames a complete video may fall short of its container's count (see frames())
OPEN_TIMEOUT = 20.0  # seconds to wait for a stream to answer, and for each read


class VideoError(InputError):
    """A video that cannot be opened or read at all (damage inside one is reported per frame instead)."""


def is_video_source(item: str | Path) -> bool:
    """True for a stream URL (``rtsp://``, ``http://``...) or a file name with a video suffix."""
    text = str(item)
    return bool(_URL.match(text)) or Path(text).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class Frame:
    """One frame of the video: its index from 0 in the whole video, its time in seconds from the start, and
    uint8 (H, W, 3) RGB pixels; or, when it could not be read, ``rgb`` None and ``error`` why."""

    index: int
    time: float | None
    rgb: np.ndarray | None = field(default=None, repr=False)
    error: str | None = None


@dataclass(frozen=True)
class VideoInfo:
    source: str
    width: int  # as coded: a frame with a display rotation comes out turned upright (height and width swapped)
    height: int
    fps: float  # the stream's average frame rate; 0.0 when the container does not say
    frame_count: int  # frames the container announces; 0 when unknown (streams, some containers)
    codec: str


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return re.sub(r"\s*:\s*'[^']*'$", "", str(text))  # PyAV appends the file name, which the caller already says


def _upright(frame) -> np.ndarray:
    """The frame as players show it: turned by the container's display rotation (phones film portrait this way).
    Only quarter turns exist in practice; the display matrix's mirroring is not applied."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round(getattr(frame, "rotation", 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def pyav():  # -> the av module
    """PyAV (FFmpeg), an extra: a photo-only install does without its 130 MB."""
    try:
        import av
    except ImportError as exc:
        from ..errors import BackendUnavailableError

        raise BackendUnavailableError(f"video needs PyAV: pip install 'fanzoo[video]' ({exc})") from None
    return av


class VideoReader:
    """An open video. Frames are decoded one at a time, so memory does not grow with the video's length."""

    def __init__(self, source: str | Path) -> None:
        av = pyav()

        text = str(source)
        if not _URL.match(text):
            path = Path(text)
            if not path.exists():
                raise VideoError(f"{text}: no such file")
            if path.is_dir():
                raise VideoError(f"{text}: is a folder, not a video")
        try:
            self._container = av.open(text, timeout=OPEN_TIMEOUT)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            what = "cannot open the stream" if _URL.match(text) else "not a video FFmpeg can read"
            raise VideoError(f"{text}: {what} ({_describe(exc)})") from None
        if not self._container.streams.video:
            self.close()
            raise VideoError(f"{text}: has no video stream")
        stream = self._container.streams.video[0]
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if width <= 0 or height <= 0:
            self.close()
            raise VideoError(f"{text}: the video stream has no frame size; the file is damaged or not a video")
        if width * height > MAX_FRAME_PIXELS:
            self.close()
            raise VideoError(f"{text}: frames of {width}x{height} are larger than the {MAX_FRAME_PIXELS:,} pixels "
                             "fanzoo decodes; scale the video down first (e.g. with ffmpeg -vf scale)")
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        self._stream = stream
        self.info = VideoInfo(text, width, height, fps if math.isfinite(fps) and fps > 0 else 0.0,
                              int(stream.frames or 0), stream.codec_context.name)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def _start_time(self) -> float:
        s = self._stream
        return float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0

    def _seek(self, seconds: float) -> None:
        """Jump near ``seconds`` (to the key frame before it); frames before it are then decoded and dropped."""
        import av

        s = self._stream
        if seconds <= 0 or not s.time_base:
            return
        try:
            self._container.seek(int((seconds + self._start_time()) / s.time_base), stream=s, backward=True)
        except (av.error.FFmpegError, OSError) as exc:
            log.warning("%s: cannot seek (%s); decoding from the start", self.info.source, _describe(exc))

    def frames(self, start: float = 0.0, end: float | None = None, every: int = 1) -> Iterator[Frame]:
        """Frames whose time is in [start, end) seconds, every ``every``-th one counted from the first.

        A frame FFmpeg cannot decode comes as a :class:`Frame` with ``error`` set and the next ones follow; a
        video that stops before the frames its container announces ends with one such frame saying so.
        """
        import av

        if every < 1:
            raise InputError(f"every must be a whole number >= 1, got {every!r}")
        fps, t0 = self.info.fps, self._start_time()
        self._seek(start)
        index = None  # of the last frame decoded
        first = None  # index of the first frame in range: `every` counts from it
        pending: str | None = None  # a decode error not yet tied to a frame number
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError) as exc:
                # the container itself is unreadable from here on (cut short, I/O error): report and stop
                pending = _describe(exc)
                break
            try:
                decoded = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                pending = _describe(exc)
                continue
            for frame in decoded:
                time = float(frame.time) - t0 if frame.time is not None else None
                if index is None:  # the first frame: its number from its time (after a seek it is not 0)
                    index = round(time * fps) if time is not None and fps else 0
                    expected = 0 if start <= 0 else index
                else:
                    expected = index + 1
                    index = expected
                    if pending is not None and time is not None and fps:
                        # frames lost to the error: those whose time slots were skipped
                        index = max(expected, round(time * fps))
                if pending is not None:
                    for lost in range(expected, index):
                        if (end is None or lost / max(fps, 1e-9) < end) and lost / max(fps, 1e-9) >= start:
                            yield Frame(lost, lost / fps if fps else None, None, f"cannot decode: {pending}")
                    if index == expected:
                        log.warning("%s: frame %d: the decoder reported damage (%s); using the frame as decoded",
                                    self.info.source, index, pending)
                    pending = None
                if time is not None and time < start - 1e-6:
                    continue  # decoded from the key frame before the seek target
                if end is not None and time is not None and time >= end:
                    return
                if first is None:
                    first = index
                if (index - first) % every:
                    continue
                yield Frame(index, time, _upright(frame))
        announced = self.info.frame_count
        last = -1 if index is None else index
        if end is not None and fps and announced:
            announced = min(announced, math.ceil(end * fps))
        # a few frames of slack: an MP4 edit list can hide leading frames its sample count still includes
        short = announced and last + 1 < announced - ANNOUNCED_SLACK
        if pending is not None or short:
            why = pending or "no more frames could be read"
            if short:
                why += f"; the container announces {announced} frames: the file is truncated or damaged"
            yield Frame(last + 1, (last + 1) / fps if fps else None, None, f"cannot decode: {why}")
