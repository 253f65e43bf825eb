"""Video: NME, jitter and frames per second of per-frame detection, tracking, and tracking with smoothing,
on a clip made from 300-W HELEN test faces moved along known trajectories (benchmarks/video_clip.py).

    .venv/bin/python -m benchmarks.video            # makes the clip, measures, writes results_video.json and
                                                     # the "Video" section of benchmarks/RESULTS.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from fanzoo.metrics import interocular

from .video_clip import Clip, make_clip, pick_faces

ROOT = Path(__file__).resolve().parents[1]
RESULTS_JSON = ROOT / "benchmarks" / "results_video.json"
MODES = {"per-frame detection": (False, False), "tracking": (True, False), "tracking + smoothing": (True, True)}


def run_mode(predictor, clip: Clip, tracking: bool, smooth: bool) -> tuple[list[list], float]:
    """[(track id, landmarks)] of every frame, and the seconds the whole clip took (decoding included)."""
    from fanzoo.video import TrackingOptions

    start = time.perf_counter()
    frames = [[(f.track_id, f.landmarks[:, :2]) for f in r.faces]
              for r in predictor.predict_video(clip.path, smooth=smooth, options=TrackingOptions(tracking=tracking))]
    return frames, time.perf_counter() - start


def score(clip: Clip, frames: list[list]) -> dict[str, float]:
    """NME (eye corners) per found face, jitter per consecutive pair, share of faces found, id switches."""
    errors, jitters, switches, found = [], [], 0, 0
    previous: dict[int, tuple[int, np.ndarray]] = {}  # gt face -> (track id, landmarks) in the frame before
    for i, (truth, faces) in enumerate(zip(clip.truth, frames)):
        if i and clip.segment[i] != clip.segment[i - 1]:
            previous = {}
        current = {}
        for g, gt in enumerate(truth):
            iod = interocular(gt)
            dist = [np.linalg.norm(lm - gt, axis=1).mean() / iod for _, lm in faces]
            if not dist or min(dist) > 0.5:
                continue
            track_id, landmarks = faces[int(np.argmin(dist))]
            found += 1
            errors.append(min(dist))
            if g in previous:
                last_id, last = previous[g]
                motion = (landmarks - last) - (gt - clip.truth[i - 1][g])
                jitters.append(np.linalg.norm(motion, axis=1).mean() / iod)
                switches += int(last_id != track_id)
            current[g] = (track_id, landmarks)
        previous = current
    return {"nme": float(np.mean(errors)), "nme_median": float(np.median(errors)), "jitter": float(np.mean(jitters)),
            "found": found / clip.truth.shape[0] / clip.truth.shape[1], "id_switches": switches}


def measure(predictor, clip: Clip, repeats: int = 1) -> dict[str, dict[str, float]]:
    """Every mode on the clip; the modes take turns ``repeats`` times and the median time counts."""
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    scores = {}
    for _ in range(repeats):
        for mode, (tracking, smooth) in MODES.items():
            frames, took = run_mode(predictor, clip, tracking, smooth)
            seconds[mode].append(took)
            scores[mode] = score(clip, frames)
    n = len(clip.truth)
    return {m: {**scores[m], "fps": n / float(np.median(seconds[m])), "frames": n} for m in MODES}


def render(data: dict) -> str:
    """The RESULTS.md section."""
    rows = data["modes"]
    base = rows["per-frame detection"]
    lines = ["## Video (tracking and smoothing)", "",
             f"`python -m benchmarks.video`: a {data['frames']}-frame {data['width']}x{data['height']} MJPEG clip at "
             f"{data['fps']:g} fps, {data['faces']} HELEN test faces one after another (scene cuts between them), "
             "each moved along a known smooth trajectory (translation, +-15% scale, +-12 deg rotation); "
             f"model {data['model']}, detector {data['detector']}, tracking re-detects every "
             f"{data['detect_every']} frames. Jitter: frame-to-frame landmark motion minus the true motion, mean over "
             "points, / inter-ocular distance. fps: the whole clip, decoding included, median of "
             f"{data['repeats']} runs" + (f", with the machine's load average at {data['load_average'][0]:g} then "
                                         f"{data['load_average'][1]:g} on {data['cores']} cores (other jobs ran "
                                         "beside it: compare the ratios, measured side by side)"
                                         if "load_average" in data else "") + ". Id switches are counted within "
             "scenes; at a cut, a track whose box lands on the next face may carry on with the same id.", "",
             "| mode | NME (mean) | NME (median) | jitter | jitter vs per-frame | fps | fps vs per-frame | "
             "faces found | id switches |", "|---|---|---|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        lines.append(f"| {mode} | {100 * r['nme']:.2f}% | {100 * r['nme_median']:.2f}% | {100 * r['jitter']:.2f}% | "
                     f"{r['jitter'] / base['jitter']:.0%} | {r['fps']:.1f} | {r['fps'] / base['fps']:.2f}x | "
                     f"{100 * r['found']:.1f}% | {r['id_switches']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "300w" / "testset" / "helen")
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--frames-per-face", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    import fanzoo
    from fanzoo.api import DEFAULT_DETECTOR, DEFAULT_MODEL
    from fanzoo.video import TrackingOptions

    predictor = fanzoo.load_predictor()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.avi", pick_faces(args.data, args.faces), args.frames_per_face)
        modes = measure(predictor, clip, args.repeats)
    load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    height, width = 480, 640
    data = {"frames": len(clip.truth), "width": width, "height": height, "fps": clip.fps, "faces": args.faces,
            "model": DEFAULT_MODEL, "detector": DEFAULT_DETECTOR, "detect_every": TrackingOptions().detect_every,
            "repeats": args.repeats, "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "load_average": load, "modes": modes}
    section = render(data)
    print(section)
    if args.no_write:
        return
    from fanzoo.atomic import atomic_write_text

    atomic_write_text(RESULTS_JSON, json.dumps(data, indent=2) + "\n")
    results = ROOT / "benchmarks" / "RESULTS.md"
    text = results.read_text(encoding="utf-8")
    head, sep, rest = text.partition("## Video (tracking and smoothing)")
    tail = rest[rest.find("\n## "):] if sep and "\n## " in rest else ""
    atomic_write_text(results, head.rstrip("\n") + "\n\n" + section + tail)


if __name__ == "__main__":
    main()
