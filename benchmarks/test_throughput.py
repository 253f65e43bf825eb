"""Throughput of whole commands on the 300-W HELEN test images: the single-process CLI against the Ray engine.

Each round times one command from start to exit (interpreter, model load, Ray connection included) on the
same images, side by side. The Ray rows must also give the CLI's answers (checked, not only timed).
A smoke run (--benchmark-disable) uses 6 images, one round, and no two-node cluster.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fanzoo.scale.results import read_results

# whole minutes of Ray clusters and HELEN passes: the full matrix only (the default selection stays within 15 min)
pytestmark = pytest.mark.full

GROUP = "throughput: 300-W HELEN test images"
ROUNDS = 3
SMOKE_IMAGES = 6


def _command(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([sys.executable, "-m", "fanzoo", "predict", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def helen(data_dir: Path, smoke: bool, tmp_path_factory: pytest.TempPathFactory) -> Path:
    images = sorted((data_dir / "300w" / "testset" / "helen").glob("*.jpg"))
    if not smoke:
        return data_dir / "300w" / "testset" / "helen"
    folder = tmp_path_factory.mktemp("helen")
    for image in images[:SMOKE_IMAGES]:
        (folder / image.name).symlink_to(image)
    return folder


@pytest.fixture(scope="module")
def single_process(helen: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The reference answers: `fanzoo predict --json` on the same images."""
    out = tmp_path_factory.mktemp("cli") / "cli.json"
    _command(str(helen), "--json", str(out))
    return {os.path.abspath(r["path"]): r for r in json.loads(out.read_text())["images"]}


def _worst_difference(results: Path, expected: dict[str, dict]) -> float:
    rows = {r["path"]: r for r in read_results(results).to_pylist()}
    assert rows.keys() == expected.keys() and len(rows) == len(expected)
    worst = 0.0
    for path, want in expected.items():
        have = rows[path]
        assert (have["error"], len(have["faces"])) == (want["error"], len(want["faces"])), path
        for a, b in zip(have["faces"], want["faces"]):
            worst = max(worst, float(np.abs(np.asarray(a["landmarks"], float) - np.asarray(b["landmarks"])).max()))
    return worst


def _record(benchmark, engine: str, images: int, extra: dict | None = None) -> None:
    benchmark.group = GROUP
    from fanzoo.api import DEFAULT_DETECTOR, DEFAULT_MODEL

    benchmark.extra_info.update({"kind": "throughput", "engine": engine, "images": images, "cores": os.cpu_count(),
                                 "model": DEFAULT_MODEL, "detector": DEFAULT_DETECTOR,
                                 "load_average": round(os.getloadavg()[0], 1), **(extra or {})})


def test_single_process_cli(benchmark, helen: Path, single_process: dict, smoke: bool, tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    _record(benchmark, "single-process CLI (`fanzoo predict DIR --json FILE`)", len(single_process))
    benchmark.pedantic(_command, args=(str(helen), "--json", str(out)), rounds=1 if smoke else ROUNDS, iterations=1)


def test_single_process_cli_one_thread(benchmark, helen: Path, single_process: dict, smoke: bool,
                                      tmp_path: Path) -> None:
    """As the Ray engine runs each session: one runtime thread (ONNX Runtime's default is one per core)."""
    out = tmp_path / "cli.json"
    _record(benchmark, "single-process CLI, one thread (`... --threads 1`)", len(single_process))
    benchmark.pedantic(_command, args=(str(helen), "--json", str(out), "--threads", "1"),
                       rounds=1 if smoke else ROUNDS, iterations=1)


def _ray_rounds(benchmark, helen: Path, expected: dict, rounds: int, tmp_path: Path, *address: str,
                env: dict[str, str] | None = None) -> float:
    results = tmp_path / "results"

    def fresh() -> tuple[tuple, dict]:
        shutil.rmtree(results, ignore_errors=True)  # every round aligns everything; none resumes
        return (), {}

    benchmark.pedantic(lambda: _command("--engine", "ray", *address, "--results", str(results), str(helen), env=env),
                       setup=fresh, rounds=rounds, iterations=1)
    return _worst_difference(results, expected)


def test_ray_local_instance(benchmark, helen: Path, single_process: dict, smoke: bool, tmp_path: Path) -> None:
    """No --address: the command starts a Ray instance on this machine's cores and stops it at the end."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'fanzoo[ray]'")
    _record(benchmark, "Ray, local instance started by the command (`--engine ray --results DIR`)",
            len(single_process))
    worst = _ray_rounds(benchmark, helen, single_process, 1 if smoke else ROUNDS, tmp_path)
    benchmark.extra_info["max_landmark_difference_px"] = worst


def test_ray_two_node_cluster(benchmark, helen: Path, single_process: dict, smoke: bool, tmp_path: Path) -> None:
    """A head and a worker node (`ray start`, one CPU each) already running; the command joins with --address."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'fanzoo[ray]'")
    if smoke:
        pytest.skip("the smoke run leaves the two-node cluster to tests/test_scale_ray.py")
    from tests.ray_cluster import LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(cpus_per_node=1).start()
    try:
        _record(benchmark, "Ray, two-node cluster on this machine (`--engine ray --address ADDR --results DIR`)",
                len(single_process), {"cluster_start_s": round(time.perf_counter() - started, 1)})
        worst = _ray_rounds(benchmark, helen, single_process, ROUNDS, tmp_path, "--address", cluster.address,
                            env=cluster.env())
        benchmark.extra_info["max_landmark_difference_px"] = worst
    finally:
        cluster.stop()


def test_stage_costs(benchmark, helen: Path, smoke: bool) -> None:
    """Single-thread cost of each stage per image (decode; detect and crop; network, decode and depth): what
    the scaling section of RESULTS.md divides among nodes."""
    from fanzoo import load_predictor
    from fanzoo.inputs import prepare_image

    paths = sorted(helen.glob("*.jpg"))[:SMOKE_IMAGES if smoke else 60]
    predictor = load_predictor(threads=1)
    costs: dict[str, list[float]] = {"decode": [], "detect_crop": [], "landmarks": []}

    def one_pass() -> None:
        for path in paths:
            t0 = time.perf_counter()
            image = prepare_image(path)
            t1 = time.perf_counter()
            crops = predictor.crops(image.rgb)
            t2 = time.perf_counter()
            predictor.landmarks(crops)
            t3 = time.perf_counter()
            for key, value in zip(costs, (t1 - t0, t2 - t1, t3 - t2)):
                costs[key].append(value)

    benchmark.group = "throughput: stage costs"
    benchmark.pedantic(one_pass, rounds=1 if smoke else ROUNDS, iterations=1)
    benchmark.extra_info.update({"kind": "stage_costs", "images": len(paths),
                                 **{f"{k}_ms": round(1000 * float(np.median(v)), 2) for k, v in costs.items()}})
