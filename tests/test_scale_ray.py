"""`fanzoo predict --engine ray` on a real two-node Ray cluster that the tests start on this machine.

Same rows as the single-process CLI; a killed actor and a killed task worker lose and duplicate nothing;
a rerun after a killed driver aligns only what is missing.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("ray", reason="Ray is not installed: pip install 'fanzoo[ray]' (tools/install.sh does)")

from fanzoo.cli import cli
from fanzoo.scale.results import read_results, shard_files

from .ray_cluster import LocalCluster

# Parquet keeps the JSON's 3-decimal values as float32
TOLERANCE = 1e-3
RUN_TIMEOUT = 600


@pytest.fixture(scope="module")
def cluster():
    running = LocalCluster(cpus_per_node=1).start()
    try:
        yield running
    finally:
        running.stop()


def _link_images(shared_data: Path, folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    links = []
    for image in sorted((shared_data / "300w" / "testset" / "helen").glob("*.jpg"))[:count]:
        links.append(folder / image.name)
        links[-1].symlink_to(image)
    return links


def _driver(cluster: LocalCluster, results: Path, folder: Path, **options: object) -> subprocess.Popen:
    """A Ray driver in its own process (so a test can kill it), with small blocks and shards."""
    code = ("import sys, json; from fanzoo.scale.engine import align_on_ray; "
            "s = align_on_ray([sys.argv[1]], sys.argv[2], address=sys.argv[3], **json.loads(sys.argv[4])); "
            "print('summary', s.processed, s.skipped, s.failed)")
    log = open(results.with_suffix(".log"), "w")  # a file, not a pipe: a full pipe would stall the driver
    return subprocess.Popen([sys.executable, "-c", code, str(folder), str(results), cluster.address,
                             json.dumps(options)], env=cluster.env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _output(driver: subprocess.Popen) -> str:
    return Path(driver.args[4]).with_suffix(".log").read_text(errors="replace")


def _fanzoo_ray(cluster: LocalCluster, results: Path, *inputs: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fanzoo", "predict", "--engine", "ray", "--address", cluster.address,
                           "--results", str(results), *map(str, inputs)], env=cluster.env(), capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)


def _wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {_output(process)[-3000:]}")
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"timed out waiting for {what}")


def _paths(results: Path) -> list[str]:
    return [row["path"] for row in read_results(results).select(["path"]).to_pylist()]


def test_rows_equal_the_single_process_cli_and_a_rerun_skips_them(cluster, shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    helen = _link_images(shared_data, folder, 8)
    for name in ("insightface_t1.jpg", "skimage_camera.png"):  # six faces; none
        (folder / name).symlink_to(shared_data / "demo" / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    listing = tmp_path / "more.txt"
    extra = _link_images(shared_data, tmp_path / "listed", 10)[8:]
    listing.write_text("".join(f"listed/{p.name}\n" for p in extra) + "listed/missing.jpg\n")
    results = tmp_path / "results"

    run = _fanzoo_ray(cluster, results, folder, listing)
    assert run.returncode == 1, run.stdout + run.stderr  # the broken and the missing file, reported
    assert "14 images aligned" in run.stdout and "2 of 14 files failed" in run.stderr

    local = tmp_path / "local.json"
    single = CliRunner().invoke(cli, ["predict", str(folder), *map(str, extra), str(tmp_path / "listed" / "missing.jpg"),
                                      "--json", str(local)])
    assert single.exit_code == 1, single.output
    expected = {os.path.abspath(r["path"]): r for r in json.loads(local.read_text())["images"]}
    rows = read_results(results).to_pylist()
    assert len(rows) == len(expected) == 14
    got = {r["path"]: r for r in rows}
    assert got.keys() == expected.keys()
    assert sum(len(r["faces"]) for r in rows) >= len(helen) + 6
    for path, want in expected.items():
        have = got[path]
        assert (have["width"], have["height"], have["error"]) == (want["width"], want["height"], want["error"]), path
        assert len(have["faces"]) == len(want["faces"]), path
        for a, b in zip(have["faces"], want["faces"]):
            for key in ("box", "detector_score", "landmarks", "landmark_scores"):
                np.testing.assert_allclose(np.asarray(a[key], float), np.asarray(b[key], float), atol=TOLERANCE,
                                           rtol=0, err_msg=f"{path} {key}")

    shards = {p: p.stat().st_mtime_ns for p in shard_files(results)}
    again = _fanzoo_ray(cluster, results, folder, listing)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 images aligned" in again.stdout and "14 of 14 already there and skipped" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in shard_files(results)} == shards


def _cluster_process(cluster: LocalCluster, name: str) -> int | None:
    return next((pid for pid, command in cluster.processes().items() if name in command), None)


def test_killed_actor_and_task_worker_keep_every_image_once(cluster, shared_data: Path, tmp_path: Path) -> None:
    images = _link_images(shared_data, tmp_path / "images", 40)
    results = tmp_path / "results"
    driver = _driver(cluster, results, tmp_path / "images", images_per_block=2, rows_per_shard=4,
                     seconds_per_shard=1000.0)
    try:
        actor = _wait_for(lambda: _cluster_process(cluster, "LandmarkStage"), "a landmark actor", driver)
        cropper = _wait_for(lambda: _cluster_process(cluster, "MapBatches(crop_images)"), "a crop task", driver)
        _wait_for(lambda: shard_files(results), "the first shard", driver)
        os.kill(actor, signal.SIGKILL)
        os.kill(cropper, signal.SIGKILL)
        assert driver.poll() is None and len(_paths(results)) < len(images), "the run ended before the kills"
        driver.wait(timeout=RUN_TIMEOUT)
    finally:
        driver.kill()
    output = _output(driver)
    assert driver.returncode == 0, output[-3000:]
    assert "summary 40 0 0" in output
    paths = _paths(results)
    assert sorted(paths) == sorted(os.path.abspath(p) for p in images)  # every image, exactly once


def test_rerun_after_a_killed_driver_aligns_only_the_rest(cluster, shared_data: Path, tmp_path: Path) -> None:
    images = _link_images(shared_data, tmp_path / "images", 40)
    results = tmp_path / "results"
    driver = _driver(cluster, results, tmp_path / "images", images_per_block=2, rows_per_shard=4,
                     seconds_per_shard=1000.0)
    try:
        _wait_for(lambda: len(shard_files(results)) >= 2, "two shards", driver)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        driver.kill()
    before = {p: p.read_bytes() for p in shard_files(results)}
    done = _paths(results)
    assert 8 <= len(done) < len(images)

    rerun = _fanzoo_ray(cluster, results, tmp_path / "images")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    counts = re.search(r"(\d+) images aligned .* (\d+) of 40 already there", rerun.stdout)
    assert counts and (int(counts[1]), int(counts[2])) == (len(images) - len(done), len(done)), rerun.stdout
    assert all(p.read_bytes() == data for p, data in before.items())  # finished shards untouched
    assert sorted(_paths(results)) == sorted(os.path.abspath(p) for p in images)
