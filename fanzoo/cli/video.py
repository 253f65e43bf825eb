"""`fanzoo predict clip.mp4`: landmarks for every frame of a video or stream, as JSON Lines and an annotated video.

`fanzoo predict` hands videos here; the options below are added to it and apply to videos only.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from ..errors import FanzooError, InputError
from .common import check_writable, echo_line

F = TypeVar("F", bound=Callable[..., Any])
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|f)?\s*$")
# (option, parameter, default, help) of the One Euro filter; defaults are OneEuroParams'
_SMOOTHING = (("--smooth-min-cutoff", "min_cutoff", "Hz at rest; lower is smoother"),
              ("--smooth-beta", "beta", "how fast smoothing eases with speed; higher lags less"),
              ("--smooth-d-cutoff", "d_cutoff", "Hz, smoothing of the speed estimate"),
              ("--smooth-pose-cutoff", "pose_min_cutoff", "Hz at rest, for the face's rigid motion"),
              ("--smooth-pose-beta", "pose_beta", "beta of the rigid motion filter"))


def video_options(function: F) -> F:
    """The video options of `fanzoo predict` (defaults None: an image run can tell they were not given)."""
    from ..video.smoothing import OneEuroParams

    defaults = OneEuroParams()
    for flag, name, text in reversed(_SMOOTHING):
        function = click.option(flag, name, type=click.FloatRange(min=0.0), default=None,
                                help=f"Video: One Euro filter, {text} (default {getattr(defaults, name):g}).")(function)
    options = [
        click.option("--no-smooth", is_flag=True, default=None, help="Video: report the landmarks unsmoothed."),
        click.option("--no-track", is_flag=True, default=None,
                     help="Video: run the detector on every frame instead of following faces by their landmarks."),
        click.option("--detect-every", type=click.IntRange(1), default=None, metavar="K",
                     help="Video: look for new faces every K processed frames (default 30)."),
        click.option("--every", type=click.IntRange(1), default=None, metavar="N",
                     help="Video: process every N-th frame."),
        click.option("--start", default=None, metavar="TIME",
                     help="Video: first frame to process, in seconds (2.5) or as a frame number (75f)."),
        click.option("--end", default=None, metavar="TIME",
                     help="Video: stop before this time, in seconds (10) or frame number (300f)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def given_video_options(video: dict[str, Any]) -> list[str]:
    return ["--" + name.replace("_", "-") for name, value in video.items() if value is not None]


def parse_time(text: str | None, fps: float, flag: str) -> float | None:
    """Seconds from ``2.5`` / ``2.5s`` (seconds) or ``75f`` (a frame number, through the video's frame rate)."""
    if text is None:
        return None
    match = _TIME.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a time: give seconds (2.5) or a frame number (75f)", param_hint=flag)
    value, unit = float(match.group(1)), match.group(2)
    if unit != "f":
        return value
    if not fps:
        raise click.BadParameter("this video does not say its frame rate: give seconds instead", param_hint=flag)
    return value / fps


def video_target(output: Path, source: str) -> Path:
    """--output as given when it names a file, else ``<folder>/<video name>_landmarks.mp4``."""
    if output.suffix:
        return output
    stem = Path(re.sub(r"[?#].*$", "", source)).stem or "stream"
    return output / f"{stem}_landmarks.mp4"


def frame_record(result: Any) -> dict[str, Any]:
    from ..records import face_record

    return {"frame": result.index, "time": None if result.time is None else round(result.time, 4),
            "faces": [{"track_id": f.track_id, **face_record(f)} for f in result.faces], "error": result.error}


def predict_video_command(inputs: tuple[str, ...], load: Callable[[], Any], json_out: str | None,
                          output: Path | None, video: dict[str, Any]) -> None:
    """Run one video through the predictor's tracker; writes JSON Lines and/or an annotated video."""
    import contextlib

    from ..video import OneEuroParams, TrackingOptions, VideoReader
    from ..video.writer import AnnotatedVideoWriter, video_codec

    if len(inputs) != 1:
        raise click.UsageError("give one video at a time (images and videos are separate runs)")
    source = inputs[0]
    target = video_target(output, source) if output is not None else None
    if target is not None:
        try:
            video_codec(target)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--output") from None
        check_writable(target, "--output", folder=False)
    with VideoReader(source) as reader:  # not a video: one line, before the model loads
        info = reader.info
    start = parse_time(video["start"], info.fps, "--start") or 0.0
    end = parse_time(video["end"], info.fps, "--end")
    every = video["every"] or 1
    params = {name: video[name] for _, name, _ in _SMOOTHING if video[name] is not None}
    if video["no_smooth"] and params:
        raise click.UsageError("--no-smooth turns the filter off: drop the --smooth-* options, or --no-smooth")
    if video["no_track"] and video["detect_every"] is not None:
        raise click.UsageError("--no-track detects on every frame: drop --detect-every, or --no-track")
    smooth = False if video["no_smooth"] else OneEuroParams(**params)
    options = TrackingOptions(tracking=not video["no_track"], detect_every=video["detect_every"] or 30)
    predictor = load()
    results = predictor.predict_video(source, start=start, end=end, every=every, smooth=smooth, options=options,
                                      keep_frames=target is not None)
    total = None
    if info.frame_count and info.fps:
        last = min(info.frame_count, round(end * info.fps) if end is not None else info.frame_count)
        total = max(0, -(-(last - round(start * info.fps)) // every))
    from tqdm import tqdm

    failed = processed = 0
    tracks: set[int] = set()
    interrupted = None
    import av

    with contextlib.ExitStack() as stack:
        stack.enter_context(results)
        writer = None
        bar = stack.enter_context(tqdm(total=total, desc=Path(source).name[:30], unit="frame", leave=False,
                                       disable=not sys.stderr.isatty()))
        try:
            lines = _open_lines(json_out, stack)
            for result in results:
                processed += 1
                bar.update(1)
                if lines is not None:
                    lines.write(json.dumps(frame_record(result)) + "\n")
                if not result.ok:
                    failed += 1
                    echo_line(f"error: {source}: frame {result.index}: {result.error}", err=True)
                    continue
                tracks.update(f.track_id for f in result.faces)
                if target is not None and result.rgb is not None:
                    if writer is None:  # sized on the first frame: frames come upright, as players show them
                        height, width = result.rgb.shape[:2]
                        writer = stack.enter_context(AnnotatedVideoWriter(
                            target, info.fps / every if info.fps else 25.0, width, height))
                    writer.write(result.rgb, result.faces)
        except KeyboardInterrupt:
            # keep what was done: the outputs close normally and hold every frame up to here
            interrupted = processed
        except (OSError, av.error.FFmpegError) as exc:
            # an output that cannot be written: nothing half-written is left (the atomic paths clean up)
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise FanzooError(f"{source}: writing the outputs failed: {getattr(exc, 'strerror', None) or exc}{where}"
                              ) from None
    if interrupted is not None:
        echo_line(f"interrupted after {interrupted} frames; the outputs hold them", err=True)
        sys.exit(130)
    if json_out != "-":
        n = len(tracks)
        echo_line(f"{source}: {processed} frames, {n} face track{'s' if n != 1 else ''}"
                  + (f", {failed} unreadable" if failed else ""))
    if json_out is None and output is None:
        echo_line("landmarks were not saved: add --json FILE (or - for stdout) for JSON Lines, or --output "
                  "VIDEO for an annotated video", err=True)
    if failed:
        echo_line(f"{failed} of {processed} frames failed", err=True)
        sys.exit(1)


def _open_lines(target: str | None, stack: Any) -> IO[str] | None:
    """The JSON Lines stream: stdout for ``-``; a file appears complete when the run ends (atomically)."""
    if target is None:
        return None
    if target == "-":
        return sys.stdout
    from ..atomic import atomic_path

    tmp = stack.enter_context(atomic_path(Path(target)))
    return stack.enter_context(open(tmp, "w", encoding="utf-8"))
