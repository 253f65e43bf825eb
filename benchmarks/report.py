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
from .report_scale import detectors_section, throughput_section
from .report_update import update

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
    chosen = machine.get("selection", "full")
    how = {"full": "`bash tools/benchmark.sh` (the full matrix)",
           "partial": "a partial run of the benchmarks (-k, -m or a narrower path)"}.get(
        chosen, "`pytest benchmarks/ --benchmark-json=benchmarks/results.json` (the default selection)")
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
    goals = goal_rows(benchmarks, chosen, machine.get("duration_s"), machine.get("cpu_s"),
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
            precision = n.get("precision", "-") + (" (OpenVINO)" if n.get("runtime") == "openvino" else "")
            lines.append(f"| {n['model']} | {precision} | {n['images']} | {100 * n['nme_eye']:.2f}% | {box} | "
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
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        sys.exit(f"error: no benchmark results at {', '.join(missing)}: run `bash tools/benchmark.sh` first")
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
