"""Benchmark fixtures: exported artifacts (cached between runs), the weights behind them, real face crops.

`pytest benchmarks/` measures; `pytest benchmarks/ --benchmark-disable` (the test command) runs every
benchmark once as a smoke test, on fewer images, so none of them can rot.
"""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FANZOO_BENCH_CACHE", ROOT / ".bench-artifacts"))
DATA = Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))
SEED = 11  # random weights for models without trained ones; the peers load the very same tensors


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("FANZOO_HOME", str(CACHE / "home"))


SLOW_RUNTIMES = ("nnabla", "nnabla-graph")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """The smoke run (--benchmark-disable) runs every benchmark function, runtime and model once, but the
    single-threaded NNabla runtimes only at the smallest batch: their batch-8 cases take minutes each and
    exercise no other code. The full run measures everything."""
    if not config.getoption("benchmark_disable", False):
        return
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        p = params.params if params else {}
        slow = p.get("runtime") in SLOW_RUNTIMES and (p.get("batch", 1) > 1 or p.get("faces", 1) > 1)
        (dropped if slow else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def smoke(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "300w").is_dir():
        pytest.skip(f"shared data not found at {DATA} (set FANZOO_DATA)")
    return DATA


def has_trained_weights(model: str) -> bool:
    from fanzoo.weights.store import local_weights
    from fanzoo.weights.tags import lookup
    return local_weights(lookup(model).weights) is not None


@cache
def weights_job(model: str):  # -> fanzoo.export.sources.WeightsJob
    """The weights a benchmark runs: the default tag's when present, else seeded random ones."""
    from fanzoo.export.sources import plan
    from fanzoo.plugins import get_model

    if has_trained_weights(model):
        return plan(model)[0]
    return plan(model, random_seed=SEED + (1 if get_model(model).task == "depth" else 0))[0]


@cache
def model_params(model: str) -> tuple[dict[str, np.ndarray], str]:
    """The tensors a benchmark runs and their fingerprint."""
    job = weights_job(model)
    return job.params(), job.fingerprint


@cache
def artifact_dir(model: str, fmt: str) -> Path:
    """CACHE/<model>/ holding model.<fmt>, exported once from weights_job(model)."""
    from fanzoo.errors import FanzooError
    from fanzoo.export.exporter import export_model
    from fanzoo.export.manifest import read_manifest
    from fanzoo.plugins import get_model

    job = weights_job(model)
    folder = CACHE / get_model(model).name
    try:
        manifest = read_manifest(folder)
        if manifest.weights_sha256 == job.fingerprint and (folder / manifest.entry(fmt).file).is_file():
            return folder
    except FanzooError:
        pass
    export_model(job, fmt, folder)
    return folder


@pytest.fixture(scope="session")
def face_crops() -> np.ndarray:
    """Real face crops (the bundled public-domain reference faces), tiled to 16."""
    from fanzoo.export.exporter import REFERENCE_FACES
    with np.load(REFERENCE_FACES) as ref:
        crops = ref["crops"]
    return np.resize(crops, (16, *crops.shape[1:]))


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    import platform
    import subprocess

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    versions = {}
    for dist in ("fanzoo", "nnabla", "onnxruntime", "onnx", "numpy", "opencv-python-headless", "dlib-bin"):
        try:
            import importlib.metadata
            versions[dist] = importlib.metadata.version(dist)
        except Exception:
            continue
    from .peers import REFERENCE_PYTHON
    if REFERENCE_PYTHON.exists():
        out = subprocess.run([str(REFERENCE_PYTHON), "-c", "import torch, face_alignment, sys; "
                              "print(torch.__version__, face_alignment.__version__, sys.version.split()[0])"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            torch_v, fa_v, py_v = out.stdout.split()
            versions.update({"torch (peer)": torch_v, "face-alignment (peer)": fa_v, "python (peer)": py_v})
    output_json["fanzoo_machine"] = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                                     "versions": versions}
