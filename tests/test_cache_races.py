"""Two processes binding the same weights into one cache at once: both succeed, and the cache ends whole.

A user who starts two `fanzoo` commands on a fresh machine (or a cluster whose nodes share a home folder)
gets two binds of the same tag racing for the same files; neither may fail, and what is left must verify.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from fanzoo.graphs import load_shipped
from fanzoo.plugins import registry
from fanzoo.weights.synthetic import seeded_params

MODEL = "2dfan1"  # the smallest registered FAN-1 stack: a bind takes about a second


def fanzoo(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "FANZOO_HOME": str(home), "FANZOO_DEBUG": "1"}
    return subprocess.Popen([sys.executable, "-m", "fanzoo", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_processes_binding_one_tag_into_one_cache(tmp_path: Path) -> None:
    spec = registry().get(MODEL)
    params = seeded_params(spec, load_shipped(spec).contract.seed)
    weights = tmp_path / "seeded.npz"
    np.savez(weights, **params)
    home = tmp_path / "home"
    home.mkdir()
    for round_ in range(3):
        runs = [fanzoo(home, "weights", "import", MODEL, str(weights), "--tag", f"race{round_}",
                       "--license", "test weights") for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outputs):
            assert run.returncode == 0, f"round {round_}: a bind failed:\n{out}\n{err}"
            assert "Traceback" not in err
        # what is left is one complete artifact, whose hash the next process checks before loading it
        artifact = home / "artifacts" / f"{MODEL}.race{round_}"
        leftovers = [p for p in home.rglob("*") if p.name.endswith((".part", ".tmp")) or ".part" in p.parent.name]
        assert leftovers == [], f"round {round_}: half-written files left in the cache: {leftovers}"
        manifest = json.loads((artifact / "MANIFEST.json").read_text())
        assert (manifest["model"], manifest["tag"], manifest["made_by"]) == (MODEL, f"race{round_}", "binding")
        listed = fanzoo(home, "weights", "list", "--json", "-")
        out, err = listed.communicate(timeout=120)
        assert listed.returncode == 0, err
        assert f"{MODEL}.race{round_}" in out
    # the raced artifact runs: the predictor checks its sha256 against the MANIFEST before loading it
    face = Path(__file__).resolve().parents[1] / "examples" / "images" / "astronaut.jpg"
    run = fanzoo(home, "predict", str(face), "--model", f"{MODEL}.race2", "--box", "150,60,330,280",
                 "--json", "-")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    faces = json.loads(out)["images"][0]["faces"]
    assert len(faces) == 1 and len(faces[0]["landmarks"]) == 68
