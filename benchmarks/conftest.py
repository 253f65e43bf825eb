"""Benchmark fixtures: artifacts (cached between runs), the weights behind them, real face crops, pinned threads.

    pytest benchmarks/                       the goal rows and a small matrix, side by side (minutes)
    pytest benchmarks/ --full                every model, runtime, batch and precision (bash tools/benchmark.sh)
    pytest benchmarks/ --benchmark-disable   the test suite's smoke run: every benchmark once, small cases
"""
from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from .machine import THREADS  # every runtime's pinned thread count

# the run's selection, machine facts and goal summary: hooks of their own module, registered here
from .run_report import is_smoke as _is_smoke
from .run_report import pytest_benchmark_update_json, pytest_terminal_summary, selection  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FANZOO_BENCH_CACHE", ROOT / ".bench-artifacts"))
DATA = Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))
SEED = 11  # random weights for models without trained ones; the peers load the very same tensors
SLOW_RUNTIMES = ("nnabla", "nnabla-graph")
SMOKE_SKIPS_MODELS = ("2dfan1", "2dfan2", "2dfan3")
FAN_STACKS = {"2dfan1": 1, "2dfan2": 2, "2dfan4": 4, "3dfan4": 4}  # the networks face-alignment has


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False,
                     help="fanzoo: run the whole benchmark matrix (every model, runtime, batch and precision; "
                          "about an hour on 2 cores) instead of the goal rows and a small matrix")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("FANZOO_HOME", str(CACHE / "home"))
    os.environ.setdefault("FANZOO_DATA", str(DATA))
    config.addinivalue_line("markers", "full: part of the whole matrix only (`pytest benchmarks/ --full`)")
    config.addinivalue_line("markers", "int8: needs the model's int8 artifact (the smoke run quantizes 2dfan-lite only)")
    if not config.option.benchmark_columns or config.option.benchmark_columns == _DEFAULT_COLUMNS:
        config.option.benchmark_columns = ["median", "iqr", "rounds"]  # the rest of the summary is fanzoo's


_DEFAULT_COLUMNS = ["min", "max", "mean", "stddev", "median", "iqr", "outliers", "ops", "rounds", "iterations"]


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Without --full, cases marked ``full`` are left out. The smoke run (--benchmark-disable) runs every benchmark
    function once, at its cheapest: no NNabla above batch 1 (minutes a case, no other code), int8 only for the
    small model (quantizing a FAN-4 takes minutes), and of the FANs only FAN-4 and 3D-FAN-4 (FAN-1 to FAN-3 run
    the same code with fewer stacks; on a CPU without AVX-512 each FAN case costs seconds to minutes); backend
    agreement on the small model only (6 minutes for FAN-4 and 3D-FAN-4 there; the conformance suite holds every
    backend to every architecture's reference tensors)."""
    full, smoke = config.getoption("full"), _is_smoke(config)
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        p = params.params if params else {}
        drop = False
        if not full and not smoke and (item.get_closest_marker("full") or _full_only(item, p)):
            drop = True
        if smoke:
            drop = (p.get("runtime") in SLOW_RUNTIMES and (p.get("batch", 1) > 1 or p.get("faces", 1) > 1)) or \
                   ((p.get("precision") == "int8" or item.get_closest_marker("int8"))
                    and p.get("model", "2dfan-lite") != "2dfan-lite") or p.get("model") in SMOKE_SKIPS_MODELS or \
                   (item.originalname == "test_backend_agreement" and p.get("model") in ("2dfan4", "3dfan4"))
        (dropped if drop else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _full_only(item: pytest.Item, params: dict) -> bool:
    """Cases of other benchmark files kept for --full, so that the default selection stays within 15 minutes:
    the detectors other than the default one (dlib CNN takes seconds a photo), and the larger photos."""
    if item.path.name == "test_detectors.py":
        return (params.get("name", "centerface") != "centerface" or params.get("long_side", 512) > 512
                or not params.get("framed", True))
    return False


@pytest.fixture(scope="session")
def smoke(request: pytest.FixtureRequest) -> bool:
    return _is_smoke(request.config)


@pytest.fixture(scope="session")
def full(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("full"))


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
def artifact_dir(model: str, fmt: str, precision: str = "fp32") -> Path:
    """CACHE/<model>/ holding model.<fmt> exported once from weights_job(model), and its int8 copy if asked."""
    from fanzoo.errors import FanzooError
    from fanzoo.export.exporter import export_model
    from fanzoo.export.manifest import read_manifest
    from fanzoo.export.quantize import is_current
    from fanzoo.plugins import get_model
    from fanzoo.precision import artifact_key

    spec = get_model(model)
    job = weights_job(model)
    folder = CACHE / spec.name
    key = artifact_key(fmt, precision)
    try:
        manifest = read_manifest(folder)
        entry = manifest.entry(key)
        if (manifest.weights_sha256 == job.fingerprint and (folder / entry.file).is_file() and is_current(entry)
                and _made_by_this_exporter(manifest, fmt, entry)):
            return folder
    except FanzooError:
        pass
    try:
        fp32 = read_manifest(folder)
        ready = (fp32.weights_sha256 == job.fingerprint and (folder / fp32.entry(fmt).file).is_file()
                 and _made_by_this_exporter(fp32, fmt, fp32.entry(fmt)))
    except FanzooError:
        ready = False
    if not ready:
        export_model(job, fmt, folder)
    if key != fmt:
        from fanzoo.export.calibration import default_calibration_dir
        from fanzoo.export.quantize import quantize_folder

        if default_calibration_dir() is None:
            pytest.skip(f"int8 needs calibration faces: shared data not found at {DATA} (set FANZOO_DATA)")
        quantize_folder(spec, folder)
    return folder


def _made_by_this_exporter(manifest, fmt: str, entry) -> bool:
    """An ONNX file of the current graph passes (an int8 one: quantized from that fp32 file): an artifact of an
    older exporter computes the same function more slowly, and would be measured as if it were today's."""
    from fanzoo.export.graph_passes import PASSES

    if fmt != "onnx":
        return True
    fp32 = manifest.artifacts.get(fmt)
    if fp32 is None or fp32.graph_passes != list(PASSES):
        return False
    return entry is fp32 or (entry.quantization or {}).get("source_sha256") == fp32.sha256


def load_session(model: str, runtime: str, precision: str = "fp32"):
    """A backend session on the benchmark's artifact, with the pinned thread count."""
    from fanzoo.export.manifest import read_manifest
    from fanzoo.plugins import plugins
    from fanzoo.precision import artifact_key, load_options

    backend = plugins().backend(runtime)
    folder = artifact_dir(model, backend.artifact_format, precision)
    entry = read_manifest(folder).entry(artifact_key(backend.artifact_format, precision))
    from fanzoo.errors import BackendUnavailableError

    try:
        return backend.load(folder / entry.file, threads=THREADS, **load_options(precision))
    except BackendUnavailableError as exc:  # e.g. bf16 on a CPU without AVX-512 BF16 or AMX: not measurable here
        pytest.skip(f"{runtime} {precision}: {exc}")


@pytest.fixture(scope="session")
def face_crops() -> np.ndarray:
    """Real face crops (the bundled public-domain reference faces), tiled to 16."""
    from fanzoo.export.exporter import REFERENCE_FACES
    with np.load(REFERENCE_FACES) as ref:
        crops = ref["crops"]
    return np.resize(crops, (16, *crops.shape[1:]))


def network_inputs(model: str, batch: int) -> np.ndarray:
    """What every runtime's network row feeds, fanzoo and peers alike: real face crops at the model's size, and
    for the depth network the crops with landmark maps at the 300-W mean shape (the export's reference inputs)."""
    from fanzoo.export.exporter import reference_inputs
    from fanzoo.plugins import get_model

    x = reference_inputs(get_model(model))
    return np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])))


@pytest.fixture(scope="session")
def torch_peers(tmp_path_factory: pytest.TempPathFactory):
    """The authors' pipeline for a model, in its own process, with this run's weights and crops (started once)."""
    from .peers import TorchPeer, reference_python_problem

    peers: dict[str, TorchPeer] = {}

    def get(model: str) -> TorchPeer:
        problem = reference_python_problem()
        if problem:
            pytest.skip(problem)
        if model not in FAN_STACKS:
            pytest.skip(f"face-alignment has no {model} network")
        if model not in peers:
            from fanzoo.plugins import get_model
            spec = get_model(model)
            depth = model_params(spec.depth_model)[0] if spec.depth_model else None
            depth_inputs = network_inputs(spec.depth_model, 8) if spec.depth_model else None
            peers[model] = TorchPeer(tmp_path_factory.mktemp(model), model_params(spec.name)[0], FAN_STACKS[model],
                                     network_inputs(spec.name, 8), depth, depth_inputs, threads=THREADS)
        return peers[model]

    yield get
    for peer in peers.values():
        peer.close()
