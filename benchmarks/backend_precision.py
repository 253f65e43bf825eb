"""OpenVINO against ONNX Runtime at fp32, and OpenVINO's bf16 inference precision: speed side by side in one
run, and bf16's error against fp32 on real faces.

    .venv/bin/python -m benchmarks.backend_precision             # measure; writes results_backends.json and
                                                                 # the section of benchmarks/RESULTS.md
    .venv/bin/python -m benchmarks.backend_precision --only latency   # re-measure speed, keep the errors
    .venv/bin/python -m benchmarks.backend_precision --render    # the RESULTS.md section from the JSON only

2dfan-lite runs its trained, shipped export; FAN-4 (2dfan4) the benchmarks' seeded, BatchNorm-calibrated
weights (no trained FAN-4 exists here). Faces: the 300-W HELEN test images with ground-truth boxes.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from fanzoo.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results_backends.json"
MARKDOWN = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## OpenVINO and ONNX Runtime, fp32 and bf16"
COMMAND = ".venv/bin/python -m benchmarks.backend_precision"
CONFIGS = (("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"))
THREADS = 2  # every runtime pinned to the machine's two cores
ROUNDS = {("2dfan-lite", 1): 40, ("2dfan-lite", 8): 15, ("2dfan4", 1): 12, ("2dfan4", 8): 4}


def artifact(model: str) -> Path:
    from fanzoo.artifacts import bundled_artifacts
    from fanzoo.plugins import registry

    shipped = bundled_artifacts(registry().default_tag(model))
    if shipped is not None and (shipped / "model.onnx").is_file():
        return shipped / "model.onnx"
    from benchmarks.conftest import artifact_dir  # seeded weights, exported once into .bench-artifacts

    return artifact_dir(model, "onnx") / "model.onnx"


def helen_crops(model: str, limit: int) -> np.ndarray:
    """(N, 3, S, S) crops of the HELEN test faces, cut the authors' way around their ground-truth boxes."""
    from benchmarks.conftest import DATA
    from fanzoo.evaluation import gt_box
    from fanzoo.imageio import read_image
    from fanzoo.plugins import get_model
    from fanzoo.preprocessing import box_to_center_scale, crop, to_network_input
    from fanzoo.pts import annotated_images, read_pts

    pre = get_model(model).preprocessing
    crops = []
    for image, pts in annotated_images(DATA / "300w" / "testset" / "helen")[:limit]:
        center, scale = box_to_center_scale(gt_box(read_pts(pts)).as_tuple(), pre)
        crops.append(crop(read_image(image), center, scale, pre))
    return to_network_input(crops)


def sessions(model: str) -> dict[tuple[str, str], object]:
    from fanzoo.backend import load_session
    from fanzoo.plugins import plugins

    path = artifact(model)
    return {(runtime, precision): load_session(plugins().backend(runtime), path, "cpu", THREADS, precision)
            for runtime, precision in CONFIGS}


def latency(runs: dict, batch: np.ndarray, rounds: int) -> dict[str, float]:
    """Median seconds a call, the configurations taking turns in every round so that load spreads evenly."""
    name = next(iter(runs.values())).input_names[0]
    times: dict[tuple[str, str], list[float]] = {config: [] for config in runs}
    for session in runs.values():
        session.run({name: batch})  # first call: shape set-up and allocation
    for round_index in range(rounds):
        order = list(runs)[round_index % len(runs):] + list(runs)[:round_index % len(runs)]
        for config in order:
            start = time.perf_counter()
            runs[config].run({name: batch})
            times[config].append(time.perf_counter() - start)
    return {" ".join(config): statistics.median(t) for config, t in times.items()}


def bf16_error(runs: dict, crops: np.ndarray, subpixel: str) -> dict[str, float]:
    """bf16 against OpenVINO fp32: heatmap error (max |diff| / max |fp32|, per face, worst and median) and the
    landmark shift in heatmap pixels; ONNX Runtime against OpenVINO at fp32 for scale."""
    from fanzoo.decoding import decode_heatmaps

    name = next(iter(runs.values())).input_names[0]
    out = {config: np.concatenate([s.run({name: crops[i:i + 8]})[s.output_names[0]] for i in range(0, len(crops), 8)])
           for config, s in runs.items()}
    fp32, bf16, ort = out["openvino", "fp32"], out["openvino", "bf16"], out["onnxruntime", "fp32"]
    per_face = np.abs(bf16 - fp32).reshape(len(crops), -1).max(1) / np.abs(fp32).reshape(len(crops), -1).max(1)
    coords = {k: decode_heatmaps(v, subpixel)[0] for k, v in (("fp32", fp32), ("bf16", bf16), ("ort", ort))}
    shift = np.linalg.norm(coords["bf16"] - coords["fp32"], axis=-1)
    ort_shift = np.linalg.norm(coords["ort"] - coords["fp32"], axis=-1)
    return {"faces": len(crops), "heatmap_error_median": float(np.median(per_face)), "heatmap_error_max": float(per_face.max()),
            "shift_mean_px": float(shift.mean()), "shift_max_px": float(shift.max()),
            "landmarks_moved_over_1px": float((shift > 1.0).mean()),
            "ort_vs_openvino_fp32_shift_mean_px": float(ort_shift.mean()),
            "ort_vs_openvino_fp32_shift_max_px": float(ort_shift.max())}


def helen_nme(model: str, runs: dict, limit: int) -> dict[str, float]:
    """Mean NME (outer eye corners) on HELEN with ground-truth boxes, per configuration (trained models only)."""
    import tempfile

    from benchmarks.conftest import DATA
    from fanzoo.evaluation import evaluate
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.pts import annotated_images
    from fanzoo.weights.tags import lookup

    spec, subpixel = get_model(model), lookup(model).weights.subpixel  # the weights' decoding rule
    with tempfile.TemporaryDirectory() as subset:
        for image, pts in annotated_images(DATA / "300w" / "testset" / "helen")[:limit]:
            for path in (image, pts):
                (Path(subset) / path.name).symlink_to(path)
        return {" ".join(config): evaluate(Predictor(spec, session, subpixel=subpixel), [Path(subset)], "gt")[0].nme_eye_mean
                for config, session in runs.items()}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), []))
    return {"cpu": cpu, "cores": os.cpu_count(), "bf16": sorted(flags & {"avx512_bf16", "amx_bf16"}),
            "versions": {d: importlib.metadata.version(d) for d in ("openvino", "onnxruntime", "fanzoo")}}


def measure(models: tuple[str, ...], faces: int, parts: tuple[str, ...], previous: dict | None) -> dict:
    """Measure ``parts`` ("latency", "accuracy") of ``models``; the other part is kept from ``previous``."""
    from fanzoo.weights.tags import lookup

    results = {"command": COMMAND, "threads": THREADS, "machine": machine(), "models": {}}
    if previous is not None:
        results = {**previous, "machine": machine(), "models": dict(previous["models"])}
    for model in models:
        runs = sessions(model)
        entry = dict(results["models"].get(model, {}))
        entry["weights"] = "trained (shipped)" if "bundled" in str(artifact(model)) else "seeded, BatchNorm-calibrated"
        if "accuracy" in parts:
            crops = helen_crops(model, faces)
            entry["bf16"] = bf16_error(runs, crops, lookup(model).weights.subpixel)
            if entry["weights"].startswith("trained"):
                entry["nme_helen_gt_boxes"] = helen_nme(model, runs, faces)
        if "latency" in parts:
            crops = helen_crops(model, 8)
            load = os.getloadavg()[0]
            run = {"when": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "latency_ms": {}, "rounds": {}}
            for batch in (1, 8):
                medians = latency(runs, np.ascontiguousarray(np.resize(crops, (batch, *crops.shape[1:]))),
                                  ROUNDS[model, batch])
                run["latency_ms"][str(batch)] = {k: 1000 * v for k, v in medians.items()}
                run["rounds"][str(batch)] = ROUNDS[model, batch]
            run["load_average"] = f"{load:.1f} to {os.getloadavg()[0]:.1f}"
            # every run is kept: on a shared machine one run's ratios are not the whole story
            entry["latency_runs"] = [*entry.get("latency_runs", []), run]
        results["models"][model] = entry
        print(json.dumps({model: entry}, indent=1))
    return results


def speedups(run: dict, batch: str) -> tuple[float, float]:
    per = run["latency_ms"][batch]
    return per["onnxruntime fp32"] / per["openvino fp32"], per["onnxruntime fp32"] / per["openvino bf16"]


def render(results: dict) -> str:
    m = results["machine"]
    latest = {model: entry["latency_runs"][-1] for model, entry in results["models"].items()}
    lines = [HEADING, "",
             f"`{results['command']}`: {m['cpu']}, {m['cores']} cores ({', '.join(m['bf16']) or 'no bf16'}), "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) +
             f"; every runtime pinned to {results['threads']} threads; network only, real face crops; medians of the "
             "rounds shown, the three configurations taking turns in each round. Speed-up: ONNX Runtime's time "
             "divided by OpenVINO's (above 1: OpenVINO is faster), in the latest run and, in brackets, in every run. "
             "The machine was shared with other work (load averages below, on 2 cores), so absolute times are "
             "several times an idle machine's and even the side-by-side ratios move from run to run.", "",
             "| model | weights | batch | rounds | ONNX Runtime fp32 ms/face | OpenVINO fp32 ms/face | OpenVINO bf16 ms/face "
             "| OpenVINO fp32 speed-up | OpenVINO bf16 speed-up |", "|---|---|---|---|---|---|---|---|---|"]
    for model, entry in results["models"].items():
        run = latest[model]
        for batch, ms in run["latency_ms"].items():
            per = {k: v / int(batch) for k, v in ms.items()}
            fp32, bf16 = speedups(run, batch)
            every = [speedups(r, batch) for r in entry["latency_runs"]]
            lines.append(f"| {model} | {entry['weights']} | {batch} | {run['rounds'][batch]} | "
                         f"{per['onnxruntime fp32']:.2f} | {per['openvino fp32']:.2f} | {per['openvino bf16']:.2f} | "
                         f"{fp32:.2f}x ({', '.join(f'{a:.2f}' for a, _ in every)}) | "
                         f"{bf16:.2f}x ({', '.join(f'{b:.2f}' for _, b in every)}) |")
    runs = sorted({(r["when"], r["load_average"]) for e in results["models"].values() for r in e["latency_runs"]})
    lines += ["", "Runs (UTC, load average): " + "; ".join(f"{when} ({load})" for when, load in runs) + "."]
    lines += ["", "bf16 against fp32 (OpenVINO both), on the HELEN test faces with ground-truth boxes: heatmap error is "
              "max |bf16 - fp32| / max |fp32| per face; the shift is each landmark's move in heatmap pixels (1 px = 4 "
              "crop pixels). The last column is ONNX Runtime against OpenVINO at fp32, for scale.", "",
              "| model | faces | heatmap error median / max | landmark shift mean / max (px) | landmarks moved > 1 px "
              "| NME fp32 → bf16 (HELEN) | fp32 ORT vs OpenVINO shift mean / max (px) |", "|---|---|---|---|---|---|---|"]
    for model, entry in results["models"].items():
        b = entry["bf16"]
        nme = entry.get("nme_helen_gt_boxes")
        nme_text = (f"{100 * nme['openvino fp32']:.3f}% → {100 * nme['openvino bf16']:.3f}% "
                    f"({100 * (nme['openvino bf16'] - nme['openvino fp32']):+.3f} points)") if nme else "- (random weights)"
        lines.append(f"| {model} | {b['faces']} | {b['heatmap_error_median']:.3f} / {b['heatmap_error_max']:.3f} | "
                     f"{b['shift_mean_px']:.3f} / {b['shift_max_px']:.2f} | {100 * b['landmarks_moved_over_1px']:.2f}% | "
                     f"{nme_text} | {b.get('ort_vs_openvino_fp32_shift_mean_px', float('nan')):.3f} / "
                     f"{b['ort_vs_openvino_fp32_shift_max_px']:.3f} |")
    if any(not e["weights"].startswith("trained") for e in results["models"].values()):
        lines += ["", "Shifts under seeded random weights are a poor guide to bf16's cost on trained ones: their heatmaps "
                  "have weak, flat peaks that small errors can move far (ONNX Runtime against OpenVINO, both fp32, "
                  "moves one by 0.5 px). No trained FAN-4 is available here; the trained 2dfan-lite row measures "
                  "accuracy."]
    return "\n".join(lines) + "\n"


def update_markdown(section: str) -> None:
    """Replace (or append) this section of RESULTS.md, leaving every other section as it is."""
    text = MARKDOWN.read_text(encoding="utf-8")
    start = text.find(HEADING)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    atomic_write_text(MARKDOWN, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only re-render RESULTS.md's section from the JSON")
    parser.add_argument("--models", nargs="+", default=["2dfan-lite", "2dfan4"])
    parser.add_argument("--faces", type=int, default=330, help="HELEN faces for the bf16 error (default: all 330)")
    parser.add_argument("--only", choices=("latency", "accuracy"), help="measure one part, keep the other's numbers")
    args = parser.parse_args()
    from benchmarks.conftest import CACHE

    os.environ.setdefault("FANZOO_HOME", str(CACHE / "home"))  # the benchmarks' weights, never the user's cache
    if not args.render:
        previous = json.loads(RESULTS.read_text()) if args.only and RESULTS.is_file() else None
        parts = (args.only,) if args.only else ("accuracy", "latency")
        results = measure(tuple(args.models), args.faces, parts, previous)
        atomic_write_text(RESULTS, json.dumps(results, indent=2) + "\n")
    update_markdown(render(json.loads(RESULTS.read_text())))
    print(f"wrote {MARKDOWN}")


if __name__ == "__main__":
    main()
