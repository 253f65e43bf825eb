"""How a benchmark run reports itself: its selection, the machine facts in the results JSON, the goal summary.

pytest finds these hooks through benchmarks/conftest.py, which imports them.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .machine import THREADS

_STARTED = time.time()
_LOAD_AT_START = os.getloadavg() if hasattr(os, "getloadavg") else None


def is_smoke(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_disable", False))


def selection(config: pytest.Config) -> str:
    """The run's selection: "full", "default", or "partial" when -k, -m or a path narrower than benchmarks/ chose the
    cases. A partial run's duration says nothing about the default selection's, and its goal rows are only the ones
    it measured."""
    here = Path(__file__).resolve().parent
    narrowed = bool(config.getoption("keyword") or config.getoption("markexpr"))
    start = config.invocation_params.dir
    narrowed = narrowed or any((start / str(arg).split("::")[0]).resolve() != here for arg in config.args)
    if narrowed:
        return "partial"
    return "full" if config.getoption("full") else "default"


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    import importlib.metadata
    import platform
    import subprocess

    from .machine import facts, load_average

    versions = {}
    for dist in ("fanzoo", "nnabla", "onnxruntime", "onnx", "numpy", "opencv-python-headless", "dlib-bin", "ray"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    from .peers import REFERENCE_PYTHON
    if REFERENCE_PYTHON.exists():
        out = subprocess.run([str(REFERENCE_PYTHON), "-c", "import torch, face_alignment, sys; "
                              "print(torch.__version__, face_alignment.__version__, sys.version.split()[0])"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            torch_v, fa_v, py_v = out.stdout.split()
            versions.update({"torch (peer)": torch_v, "face-alignment (peer)": fa_v, "python (peer)": py_v})
    machine = facts()
    machine.update(python=platform.python_version(), versions=versions, load_average_at_end=load_average(),
                   load_average_at_start=[round(x, 2) for x in _LOAD_AT_START] if _LOAD_AT_START else None,
                   threads_per_runtime=THREADS, cpu_s=cpu_seconds(),
                   threads=thread_statement(), selection=selection(config),
                   duration_s=round(time.time() - _STARTED, 1))
    output_json["fanzoo_machine"] = machine


def cpu_seconds() -> float | None:
    """CPU time of this run and of the processes it waited for (the peers, `fanzoo predict` processes): on a
    shared machine, what the run would take alone, with one thread per runtime, is close to this."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 1)


def thread_statement() -> dict[str, str]:
    """How many threads each runtime was given in this run."""
    return {"onnxruntime": f"{THREADS} intra-op, 1 inter-op (SessionOptions)",
            "pytorch": f"{THREADS} intra-op, 1 inter-op (torch.set_num_threads, set_num_interop_threads)",
            "nnabla": "1: NNabla 1.39's CPU kernels are single-threaded (libnnabla links no OpenMP or BLAS)",
            "fanzoo predict process": f"{THREADS} (--threads)"}


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The goal rows of the run, readable: what, goal, measured, met."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or is_smoke(config) or not session.benchmarks:
        return
    from .goals import goal_rows

    rows = goal_rows([b.as_dict(include_data=False) for b in session.benchmarks], selection(config),
                     time.time() - _STARTED)
    if not rows:
        return
    terminalreporter.section("fanzoo goals (side by side in this run)")
    for r in rows:
        terminalreporter.write_line(f"{r['met']:>7}  {r['what']}: {r['measured']}  [goal {r['goal']}]")
    terminalreporter.write_line(f"threads: {THREADS} per runtime. The full matrix and benchmarks/RESULTS.md: "
                                "bash tools/benchmark.sh")
