"""RESULTS.md sections on scale: whole-command throughput with Ray, and the face detectors' costs."""
from __future__ import annotations

from .goals import ms

SCALING = """\
### Scaling, on paper

Per image, one CPU spends the decode, the detection and crop, and the network times above. The crop
tasks take the first two on every free CPU of the cluster; the landmark actors take the third, one
per `--threads` CPUs. With N nodes of C cores, throughput should grow close to linearly,
about N x C / (decode + detect + network) images per second, until one of these limits:

- **detection** costs more than the bundled model's network (see the stage costs); it runs in the crop
  tasks, so it scales with CPUs. Given boxes (`--box`, `--boxes-json`) remove it.
- **the network** dominates with FAN-4 (about 30x the bundled model's cost per face): it scales with the
  number of actors, so with nodes, or with GPUs (`--device cuda`, unverified here).
- **decoding** is small for these 0.1-0.2 MP photos; it grows with pixels, as detection does, and
  runs in the same tasks, so it scales the same way.
- **I/O and the driver**: each task reads its images from storage every node sees (a few hundred KB
  per photo), and the results (about 2 KB per face) travel to the driver, which writes every shard.
  The driver does no per-row Python work (it concatenates Arrow tables and writes Parquet), so it
  should not limit a cluster of a few hundred cores; beyond that, split the inputs into several runs,
  each with its own `--results` folder.
- **fixed costs**: a run pays Ray's start (or connection) and each actor's session load once; on a
  few hundred images they are the overhead measured above, on millions they vanish.
"""


def throughput_section(groups: dict[str, list[dict]]) -> list[str]:
    rows = groups.get("throughput: 300-W HELEN test images", [])
    if not rows:
        return []
    base = next((r["stats"]["median"] for r in rows if r["extra_info"]["engine"].startswith("single-process CLI (")),
                None)
    one_thread = next((r["stats"]["median"] for r in rows if "one thread" in r["extra_info"]["engine"]), None)
    loads = [r["extra_info"]["load_average"] for r in rows if "load_average" in r["extra_info"]]
    out = ["## Throughput: whole commands on the 300-W HELEN test images", "",
           "Each round times one command from start to exit (interpreter, model load, Ray start or connection",
           f"included), {rows[0]['extra_info'].get('model', '2dfan-lite')} with the "
           f"{rows[0]['extra_info'].get('detector', 'dlib-hog')} detector, side by side in one run. The Ray rows are",
           "checked against the CLI's JSON (same images, errors and faces; landmarks within the difference shown).",
           "On one machine, a run that joins a running cluster can beat the single-process command: detection",
           "(crop tasks) and the network (actors) run at the same time on different cores, where the single",
           "process runs them one after the other. A run without `--address` starts Ray itself, every time.",
           "Measured with `python -m pytest benchmarks/test_throughput.py --benchmark-json=FILE`, then",
           "`python -m benchmarks.report --update FILE` (`--other-machine` when the sections above are older).",
           *([f"The machine was shared with other work: its load average was {min(loads):.1f} to {max(loads):.1f} "
              f"on {rows[0]['extra_info'].get('cores', '?')} cores as the benchmarks started."] if loads else []),
           "Time ratios divide by the single-process CLI's median (as users run it), and by its one-thread run",
           "(each Ray session has one thread too): the second ratio is the Ray engine's own overhead or gain.",
           "The CLI's default, one ONNX Runtime thread per core for the detector and for the network, is the one",
           "that suffers most from other jobs' load; on an idle machine the two single-process rows should be",
           "closer (not measured here).",
           "", "| engine | images | median s | images/s | time vs single-process CLI | vs its one-thread run | "
           "max landmark diff (px) | rounds |", "|---|---|---|---|---|---|---|---|"]
    ratio = lambda med, by: f"{med / by:.2f}x" if by else "-"
    for r in sorted(rows, key=lambda r: r["stats"]["median"]):
        info, med = r["extra_info"], r["stats"]["median"]
        diff = info.get("max_landmark_difference_px")
        out.append(f"| {info['engine']} | {info['images']} | {med:.1f} | {info['images'] / med:.1f} | "
                   f"{ratio(med, base)} | {ratio(med, one_thread)} | {'-' if diff is None else f'{diff:.1e}'} | "
                   f"{r['stats']['rounds']} |")
    start = [r["extra_info"]["cluster_start_s"] for r in rows if "cluster_start_s" in r["extra_info"]]
    if start:
        out += ["", f"Starting the two-node cluster (`ray start` twice) took {start[0]:.0f} s, not counted above."]
    costs = [r["extra_info"] for r in groups.get("throughput: stage costs", [])]
    if costs:
        c = costs[0]
        out += ["", f"Stage costs per image, one thread, median of {c['images']} images: decode {c['decode_ms']} ms, "
                f"detect and crop {c['detect_crop_ms']} ms, network, decode and back-projection {c['landmarks_ms']} ms.",
                "", SCALING]
    return out + [""]


def detectors_section(groups: dict[str, list[dict]]) -> list[str]:
    """Per detector: HELEN recall and NME, demo-photo hits and false positives, and time per photo size."""
    infos = [b for g, rows in groups.items() if g.startswith("detectors: ") for b in rows]
    if not infos:
        return []
    rows: dict[str, dict] = {}
    demo: dict[str, dict] = {}
    times: dict[str, dict[float, str]] = {}
    for bench in infos:
        info = bench["extra_info"]
        row = rows.setdefault(info["detector"], {})
        if info["kind"] == "detector-accuracy":
            row.update(found=f"{info['found']}/{info['images']}", nme=f"{100 * info['nme_eye']:.2f}%",
                       failure=f"{100 * info['failure_008']:.1f}%")
        elif info["kind"] == "detector-demo":
            row.update(demo_found=f"{info['found']}/{info['faces']}", demo_false=str(info["false_positives"]))
            demo[info["detector"]] = info["photos"]
        elif info["kind"] == "detector-time":
            times.setdefault(info["detector"], {})[info["pixels"] / 1e6] = (
                f"{ms(bench['stats']['median'])} / {ms(info['cpu_seconds_one_thread'])}")
    lines = ["## Face detectors (each at its defaults; 2dfan-lite with each detector's boxes)", "",
             "| detector | HELEN faces found | NME (eye corners) | failure@0.08 | demo faces found | demo false positives |",
             "|---|---|---|---|---|---|"]
    for name, row in sorted(rows.items()):
        if "found" in row or "demo_found" in row:
            cells = [row.get(k, "-") for k in ("found", "nme", "failure", "demo_found", "demo_false")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "A HELEN face is found when a detection overlaps its landmarks' box (IoU >= 0.3); a missed face is",
              "aligned from its ground-truth box. Detector boxes are mapped to the framing 2dfan-lite was trained on",
              "(fanzoo.detection.framing) unless the row says not.", ""]
    if demo:
        names = sorted(demo)
        photos = sorted({p for d in demo.values() for p in d})
        lines += ["Demo photos, faces found / false positives (detections that hold no marked face centre,",
                  "benchmarks/demo_faces.json):", "",
                  "| photo | faces | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for photo in photos:
            faces = next(d[photo]["faces"] for d in demo.values() if photo in d)
            cells = [f"{demo[n][photo]['found']} / {demo[n][photo]['false_positives']}" if photo in demo[n] else "-"
                     for n in names]
            lines.append(f"| {photo} | {faces} | " + " | ".join(cells) + " |")
        lines.append("")
    if times:
        sizes = sorted({mp for t in times.values() for mp in t})
        lines += ["Time per photo (examples/images/astronaut.jpg resized), detection only: median wall ms with the",
                  "runtime's threads / median CPU ms on one thread. The CPU time is the figure to compare when the",
                  "machine is shared with other work.", "",
                  "| detector | " + " | ".join(f"{mp:.2f} MP" for mp in sizes) + " |", "|---|" + "---|" * len(sizes)]
        for name, row in sorted(times.items()):
            lines.append(f"| {name} | " + " | ".join(row.get(mp, "-") for mp in sizes) + " |")
        lines.append("")
    return lines
