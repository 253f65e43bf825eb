"""Turn a pytest-benchmark JSON file into benchmarks/RESULTS.md: machine, versions, tables with ratios.

    bash tools/benchmark.sh          # runs the benchmarks, then this
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from fanzoo.atomic import atomic_write_text

from .goals import ms

ROOT = Path(__file__).resolve().parents[1]


def machine_lines(machine: dict) -> list[str]:
    """The Machine section, from what the run detected (benchmarks/machine.py), never from this file."""
    gpus = machine.get("gpus")
    gpu = "no GPU detected" if gpus == [] else (", ".join(gpus) if gpus else "GPU not checked")
    cores = f"{machine.get('cores', '?')} cores"
    if machine.get("usable_cores") not in (None, machine.get("cores")):
        cores += f" ({machine['usable_cores']} usable)"
    lines = [f"- CPU: {machine.get('cpu', '?')}, {cores}, {gpu}"]
    if machine.get("cpu_flags"):
        lines.append(f"- instruction sets: {' '.join(machine['cpu_flags'])}")
    extra = [f"{machine['memory_gib']} GiB" if machine.get("memory_gib") else "",
             "virtual machine" if machine.get("virtual_machine") else "", machine.get("os", "")]
    if any(extra):
        lines.append(f"- system: {', '.join(x for x in extra if x)}")
    lines.append(f"- Python {machine.get('python', '?')}")
    lines += [f"- {k} {v}" for k, v in sorted(machine.get("versions", {}).items())]
    threads = machine.get("threads", {})
    if threads:
        lines += ["", "Threads, pinned for this run:", ""] + [f"- {k}: {v}" for k, v in threads.items()]
    if machine.get("load_average_at_end"):
        start = machine.get("load_average_at_start")
        lines += ["", f"Load average (1, 5, 15 min) {'at the start ' + str(start) + ', ' if start else ''}at the end "
                      f"{machine['load_average_at_end']}, on {machine.get('cores', '?')} cores: other work shared the "
                      "machine, which is why the goals are measured side by side."]
    pinned, usable = machine.get("threads_per_runtime"), machine.get("usable_cores")
    if pinned is None and str(threads.get("onnxruntime", "")).split(" ")[0].isdigit():
        pinned = int(threads["onnxruntime"].split(" ")[0])
    if pinned and usable and pinned < usable:
        lines += ["", f"Every runtime ran on {pinned} thread(s) of {usable} cores (FANZOO_BENCH_THREADS): with more "
                      "runnable threads than cores, a runtime's thread pool waits at every layer for a thread the "
                      "system has paused (ONNX Runtime's FAN-4 took 4x longer on 2 threads than on 1 here), which "
                      "measures the contention rather than the runtime."]
    return lines


def timing_table(lines: list[str], groups: dict[str, list[dict]], title: str, prefix: str) -> None:
    names = sorted((g for g in groups if g.startswith(prefix)), key=lambda g: (g.split()[1], int(g.split()[-1])))
    if not names:
        return
    lines.extend([f"## {title}", "", "| model | batch | runtime | precision | threads | median ms | ms per face "
                  "| vs ONNX Runtime fp32 | rounds |", "|---|---|---|---|---|---|---|---|---|"])
    for name in names:
        rows = groups[name]
        base = next((r["stats"]["median"] for r in rows if r["extra_info"].get("runtime") == "onnxruntime"
                     and r["extra_info"].get("precision", "fp32") == "fp32"), None)
        for r in sorted(rows, key=lambda r: r["stats"]["median"]):
            info, med = r["extra_info"], r["stats"]["median"]
            ratio = f"{med / base:.2f}x" if base else "-"
            lines.append(f"| {info['model']} | {info['batch']} | {info['runtime']} | {info.get('precision', 'fp32')} | "
                         f"{info.get('threads', '-')} | {ms(med)} | {ms(med / info['batch'])} | {ratio} | "
                         f"{r['stats']['rounds']} |")
    lines.append("")


def alternated_tables(lines: list[str], benchmarks: list[dict]) -> None:
    """The side-by-side tests: each contender's median over rounds in which all of them took turns."""
    titles = {"side-by-side": "Side by side: network and end to end (given boxes), fp32, int8 and the authors' code",
              "process": "Side by side: whole `fanzoo predict` processes (given boxes)",
              "startup": "Side by side: start-up, one face"}
    for kind, title in titles.items():
        found = [b for b in benchmarks if b["extra_info"].get("kind") == kind]
        if not found:
            continue
        lines.extend([f"## {title}", "", "| model | faces | contender | median ms | ms per face | rounds |",
                      "|---|---|---|---|---|---|"])
        for b in found:
            info = b["extra_info"]
            for name, sec in sorted(info["medians_s"].items(), key=lambda kv: kv[1]):
                lines.append(f"| {info['model']} | {info['faces']} | {name} | {ms(sec)} | {ms(sec / info['faces'])} | "
                             f"{b['stats']['rounds']} |")
        lines.append("")


def render(data: dict) -> str:
    from .goals import goal_rows

    machine = data.get("fanzoo_machine", {})
    full = machine.get("selection", "full") == "full"
    how = ("`bash tools/benchmark.sh` (the full matrix)" if full else
           "`pytest benchmarks/ --benchmark-json=benchmarks/results.json` (the default selection)")
    lines = ["# fanzoo benchmark results", "",
             f"Measured by {how} on {data.get('datetime', '?')[:19]} UTC, in {machine.get('duration_s', 0) / 60:.0f} "
             "min" + (f" ({machine['cpu_s'] / 60:.0f} min of CPU time)" if machine.get("cpu_s") else "")
             + ", and rendered from the committed `benchmarks/results.json` by `python -m benchmarks.report`.", "",
             *([f"Rows of later runs replace the first run's (runs at {', '.join(data['fanzoo_runs'])} UTC): "
                "a fix to a peer was re-measured without re-running everything.", ""]
               if len(data.get("fanzoo_runs", [])) > 1 else []),
             "## Machine", "", *machine_lines(machine)]
    lines += ["", "All times are medians over the rounds shown. Ratios in one table come from one run; the goal rows",
              "divide medians taken in alternation in one test. The weights of models without trained ones are",
              "seeded random tensors with BatchNorm statistics calibrated on real faces, identical for every runtime.",
              "There are no trained FAN-4 weights here: FAN-4's int8 cost is a landmark shift against fp32, not an NME.",
              ""]
    benchmarks = data["benchmarks"]
    goals = goal_rows(benchmarks, machine.get("duration_s"), machine.get("selection") == "full", machine.get("cpu_s"),
                      machine.get("load_average_at_end"))
    if goals:
        lines.extend(["## Goals", "", "| what | goal | measured | | command |", "|---|---|---|---|---|"])
        lines += [f"| {g['what']} | {g['goal']} | {g['measured']} | {g['met']} | `{g['command']}` |" for g in goals]
        lines.append("")
    groups: dict[str, list[dict]] = defaultdict(list)
    kind_groups = {"nme": "accuracy: 300-W test (helen)", "agreement": "accuracy: backend agreement",
                   "int8-shift": "accuracy: int8 against fp32"}
    for bench in benchmarks:
        group = bench["group"] or kind_groups.get(bench["extra_info"].get("kind"), "other")
        groups[group].append(bench)
    alternated_tables(lines, benchmarks)
    timing_table(lines, groups, "Network only (landmark network, plus ResNetDepth for 3dfan4)", "network ")
    timing_table(lines, groups, "End to end (given boxes: crop, network, decode, depth)", "end-to-end ")
    for title, key in (("Cost of growth: faces per image", "growth: faces"), ("Cost of growth: image size", "growth: image")):
        rows = [r for g, rs in groups.items() if g.startswith(key) for r in rs]
        if rows:
            lines.extend([f"## {title}", "", "| input | median ms | ms per face |", "|---|---|---|"])
            for r in sorted(rows, key=lambda r: (r["extra_info"].get("pixels", 0), r["extra_info"]["batch"])):
                info = r["extra_info"]
                faces = f"{info['batch']} face{'s' if info['batch'] > 1 else ''}"
                label = faces if "pixels" not in info else f"{info['pixels'] / 1e6:.2f} MP"
                lines.append(f"| {label} | {ms(r['stats']['median'])} | {ms(r['stats']['median'] / info['batch'])} |")
            lines.append("")
    checks = groups.get("artifact check", [])
    if checks:
        lines.extend(["## Cost of checking an artifact's sha256 before it is loaded", "",
                      "| file | check | median ms | rounds |", "|---|---|---|---|"])
        for r in sorted(checks, key=lambda r: -r["stats"]["median"]):
            info = r["extra_info"]
            lines.append(f"| {info['megabytes']} MB | {info['case']} | {ms(r['stats']['median'])} | "
                         f"{r['stats']['rounds']} |")
        lines.extend(["", "A file is hashed on its first use and again only after it changes (its size, "
                      "modification time, inode or inode change time); otherwise the remembered result is used.", ""])
    lines.extend(throughput_section(groups))
    binding = [r for g, rs in groups.items() if g.startswith("binding:") for r in rs]
    if binding:
        lines.extend(["## Binding weights into the shipped weight-free graph (FAN-4, no NNabla)", "",
                      "| step | median s | rounds |", "|---|---|---|"])
        for r in binding:
            lines.append(f"| {r['extra_info']['kind']} | {r['stats']['median']:.2f} | {r['stats']['rounds']} |")
        lines.append("")
    agreement = [r["extra_info"] for r in groups.get("accuracy: backend agreement", [])]
    if agreement:
        lines.extend(["## Agreement between backends (same weights, 2 real face crops)", "",
                      "| model | ONNX Runtime rel. diff | landmark shift (crop px) | NNabla NNP rel. diff | landmark shift |",
                      "|---|---|---|---|---|"])
        for a in agreement:
            lines.append(f"| {a['model']} | {a['onnxruntime_rel_diff']:.1e} | {a['onnxruntime_landmark_shift_crop_px']:.2f}"
                         f" | {a['nnabla_rel_diff']:.1e} | {a['nnabla_landmark_shift_crop_px']:.2f} |")
        lines.append("")
    nme = [r["extra_info"] for r in groups.get("accuracy: 300-W test (helen)", [])]
    if nme:
        lines.extend(["## Accuracy on 300-W test (HELEN, 330 faces; dlib HOG boxes, ground truth where it misses)", "",
                      "| model | precision | faces | NME (eye corners) | NME (box) | AUC@0.08 | failure@0.08 |",
                      "|---|---|---|---|---|---|---|"])
        for n in sorted(nme, key=lambda n: n["nme_eye"]):
            box = f"{100 * n['nme_box']:.2f}%" if "nme_box" in n else "-"
            lines.append(f"| {n['model']} | {n.get('precision', '-')} | {n['images']} | {100 * n['nme_eye']:.2f}% | {box} | "
                         f"{n['auc_008']:.3f} | {100 * n['failure_008']:.1f}% |")
        lines.extend(["", "dlib's predictor was trained on 300-W including most of these images: its row is optimistic.",
                      "", "![CED](ced.png)", ""])
    shifts = [r["extra_info"] for r in groups.get("accuracy: int8 against fp32", [])]
    if shifts:
        lines.extend(["## int8 against fp32 (held-out real faces: 300-W training faces the calibration did not use)", "",
                      "| model | weights | faces | shift mean | p99 | max (heatmap px) | moved > 1 px | heatmap "
                      "| max rel. heatmap diff |", "|---|---|---|---|---|---|---|---|---|"])
        for a in shifts:
            weights = "trained" if a["trained"] else "seeded, BatchNorm-calibrated"
            lines.append(f"| {a['model']} | {weights} | {a['faces']} | {a['shift_mean_heatmap_px']:.3f} | "
                         f"{a['shift_p99_heatmap_px']:.2f} | {a['shift_max_heatmap_px']:.2f} | "
                         f"{100 * a['moved_over_1px']:.1f}% | "
                         f"{a['heatmap_size']} px | {a['rel_heatmap_error']:.3f} |")
        lines.append("")
    keeps = [r["extra_info"] for r in groups.get("accuracy: what int8 keeps in fp32", [])]
    for k in keeps:
        lines.extend([f"## What int8 keeps in fp32 ({k['model']}, HELEN test, {k['faces']} faces, NME fp32 "
                      f"{k['nme_fp32']:.2f}%)", "", "| kept in fp32 | NME change against fp32 (points) |", "|---|---|"])
        lines += [f"| {name} | {change:+.3f} |" for name, change in k["nme_change_points"].items()]
        lines += ["", f"The registry keeps: {', '.join(k['registry']) or 'nothing'}.", ""]
    lines.extend(detectors_section(groups))
    video = ROOT / "benchmarks" / "results_video.json"  # written by `python -m benchmarks.video`
    if video.is_file():
        from .video import render as render_video

        lines.append(render_video(json.loads(video.read_text(encoding="utf-8"))))
    backends = ROOT / "benchmarks" / "results_backends.json"  # benchmarks/backend_precision.py's own runs
    if backends.is_file():
        from .backend_precision import render as render_backends

        lines.append(render_backends(json.loads(backends.read_text())))
    return "\n".join(lines) + "\n"


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


def sections(markdown: str) -> tuple[str, dict[str, str]]:
    """The text before the first ``## `` heading, and each section keyed by its heading line."""
    head, *parts = markdown.split("\n## ")
    return head, {("## " + part).split("\n", 1)[0]: "## " + part.rstrip("\n") + "\n" for part in parts}


def machine_facts(section: str) -> dict[str, str]:
    """``- name value`` lines of a Machine section as {name: value}; the CPU line as a whole."""
    facts = {}
    for line in section.splitlines()[1:]:
        if not line.startswith("- "):
            continue
        key, _, value = line[2:].partition(": ") if line.startswith("- CPU:") else line[2:].rpartition(" ")
        facts[key] = value
    return facts


def update(existing: str, fresh: str, when: str, other_machine: bool = False) -> str:
    """Replace the sections of ``existing`` that ``fresh`` has (Machine excepted), keep the others.

    For re-measuring one group (say accuracy after a new model is trained) without re-running every
    latency benchmark; the header records which sections came from which run. Numbers from another
    machine or other versions are refused: they would sit under the first run's description; with
    ``other_machine`` they are added, each section saying which machine and versions it comes from.
    """
    head, old = sections(existing)
    _, new = sections(fresh)
    before, after = (machine_facts(part.get("## Machine", "")) for part in (old, new))
    # sections rendered from committed files rather than this run come out as they were: not re-measured
    new = {heading: text for heading, text in new.items() if heading == "## Machine" or old.get(heading) != text}
    changed = {k: (before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]}
    if changed and not other_machine:
        raise ValueError("the new run is not on the same machine and versions; re-run everything "
                         f"(bash tools/benchmark.sh), or add --other-machine: {changed}")
    if changed:
        facts = "; ".join(f"{k} {v}" if k != "CPU" else v for k, v in after.items())
        for heading, text in list(new.items()):
            if heading != "## Machine":
                title, _, body = text.partition("\n\n")
                new[heading] = f"{title}\n\nMeasured on {when} UTC on another machine than the sections above: {facts}.\n\n{body}"
    new.pop("## Machine", None)
    where = "on another machine (see the section)" if changed else "in a later run on the same machine"
    note = f"Re-measured on {when} UTC, {where}: {', '.join(h[3:] for h in new)}."
    merged = {heading: new.pop(heading, text) for heading, text in old.items()}
    merged.update(new)
    head = head.rstrip("\n") + "\n\n" + note + "\n"
    return head + "\n" + "\n".join(merged.values())


def main() -> None:
    """Merge one or more pytest-benchmark JSON files (the first gives the machine) and render them.

    ``--update FILE.json [--other-machine]`` instead replaces only the sections that FILE has in the existing
    RESULTS.md (from another machine, each says which).
    """
    out = ROOT / "benchmarks" / "RESULTS.md"
    if sys.argv[1:2] == ["--update"]:
        data = json.loads(Path(sys.argv[2]).read_text())
        try:
            text = update(out.read_text(), render(data), data.get("datetime", "?")[:19], "--other-machine" in sys.argv[3:])
        except ValueError as e:
            sys.exit(f"error: {e}")
        atomic_write_text(out, text)
        print(f"updated {out}")
        return
    sources = [Path(a) for a in sys.argv[1:]] or [ROOT / "benchmarks" / "results.json"]
    data = json.loads(sources[0].read_text())
    data["fanzoo_runs"] = [data.get("datetime", "?")[:19]]
    for extra in sources[1:]:
        more_data = json.loads(extra.read_text())
        data["fanzoo_runs"].append(more_data.get("datetime", "?")[:19])
        more = more_data["benchmarks"]
        replaced = {(b["group"], b["name"]) for b in more}
        data["benchmarks"] = [b for b in data["benchmarks"] if (b["group"], b["name"]) not in replaced] + more
    atomic_write_text(out, render(data))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
