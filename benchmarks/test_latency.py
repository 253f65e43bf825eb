"""Latency per runtime and precision, beside the plain NNabla path and the authors' PyTorch code.

Groups compare one model and batch across runtimes. Every installed backend appears at every precision it
declares (fanzoo.precision), so a new backend plugin is measured without an edit here. Without --full, only
the bundled 2dfan-lite-v2 and 2dfan-lite (v1) and 2dfan4 are measured, and NNabla only at batch 1.
"""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import FAN_STACKS, THREADS, load_session, model_params, network_inputs
from .peers import TorchPeer
from .scenes import tiled

MODELS = ["2dfan-lite-v2", "2dfan-lite", "2dfan1", "2dfan2", "2dfan4", "3dfan4"]
QUICK_MODELS = ("2dfan-lite-v2", "2dfan-lite", "2dfan4")
BATCHES = [1, 8]
ROUNDS = {"nnabla": 3, "nnabla-graph": 3}  # others: 5 (7 with --full)


def runtimes() -> list[tuple[str, str]]:
    """(runtime, precision): each installed backend at each precision it runs, the NNabla graph, the PyTorch peer."""
    from fanzoo.plugins import plugins
    from fanzoo.precision import backend_precisions

    found = [(name, p) for name, backend in sorted(plugins().backends.items()) for p in backend_precisions(backend)]
    return [*found, ("nnabla-graph", "fp32"), ("pytorch", "fp32")]


def cases() -> list:
    out = []
    for model in MODELS:
        for runtime, precision in runtimes():
            for batch in BATCHES:
                # nnabla-examples' script runs one face at a time, so the plain NNabla path is measured at batch 1
                if runtime == "nnabla-graph" and batch > 1:
                    continue
                if runtime == "pytorch" and model not in FAN_STACKS:  # face-alignment has only the FAN networks
                    continue
                # the default selection: 2dfan-lite, and FAN-4 at batch 1 (test_goals times FAN-4 at batch 8 side by
                # side); NNabla on 2dfan-lite only (FAN-4's plain NNabla graph takes 5 s a run on an AVX2 CPU)
                quick = model in QUICK_MODELS and not (runtime in ("nnabla", "nnabla-graph") and batch > 1) and \
                    not (model == "2dfan4" and (batch > 1 or runtime in ("nnabla", "nnabla-graph")))
                out.append(pytest.param(model, runtime, precision, batch, marks=() if quick else pytest.mark.full,
                                        id=f"{model}-{runtime}-{precision}-{batch}"))
    return out


def sessions(model: str, runtime: str, precision: str = "fp32"):
    """(landmark session, depth session or None) for fanzoo runtimes."""
    from fanzoo.plugins import get_model
    from fanzoo_nnabla.graph import GraphSession

    spec = get_model(model)
    names = [spec.name] + ([spec.depth_model] if spec.depth_model else [])
    if runtime == "nnabla-graph":  # what nnabla-examples' script does: the Python graph, no exported file
        out = [GraphSession(get_model(n), model_params(n)[0]) for n in names]
    else:
        out = [load_session(n, runtime, precision) for n in names]
    return out[0], (out[1] if len(out) > 1 else None)


def rounds(runtime: str, smoke: bool, full: bool = False) -> int:
    return 1 if smoke else ROUNDS.get(runtime, 7 if full else 5)


def threads_of(runtime: str, peer: TorchPeer | None = None) -> int:
    if peer is not None:
        return peer.threads
    return 1 if runtime in ("nnabla", "nnabla-graph") else THREADS


@pytest.mark.parametrize("model, runtime, precision, batch", cases())
def test_network(benchmark, model: str, runtime: str, precision: str, batch: int, torch_peers, smoke: bool,
                 full: bool) -> None:
    """Network only: the landmark network (and, for 3D, ResNetDepth) on `batch` real face crops, for every runtime."""
    from fanzoo.plugins import get_model

    spec = get_model(model)
    benchmark.group = f"network {model} batch {batch}"
    benchmark.extra_info.update(model=model, runtime=runtime, precision=precision, batch=batch, kind="network",
                                gmacs=spec.gmacs)
    if runtime == "pytorch":
        peer = torch_peers(model)
        timings: list[float] = []

        def run_peer() -> None:  # the peer times itself; the IPC cost (~0.1 ms) stays in the measurement
            timings.append(peer.net(batch))
        benchmark.extra_info["threads"] = threads_of(runtime, peer)
        benchmark.pedantic(run_peer, rounds=rounds(runtime, smoke, full), warmup_rounds=0 if smoke else 1)
        benchmark.extra_info["peer_reported_median_s"] = float(np.median(timings))
        return
    landmarks, depth = sessions(model, runtime, precision)
    x = network_inputs(model, batch)
    depth_in = network_inputs(spec.depth_model, batch) if depth is not None else None
    benchmark.extra_info["threads"] = threads_of(runtime)

    def run() -> None:
        landmarks.run({landmarks.input_names[0]: x})
        if depth is not None:
            depth.run({depth.input_names[0]: depth_in})
    benchmark.pedantic(run, rounds=rounds(runtime, smoke, full), warmup_rounds=0 if smoke else 1)


@pytest.mark.parametrize("model, runtime, precision, faces", cases())
def test_end_to_end(benchmark, model: str, runtime: str, precision: str, faces: int, torch_peers, smoke: bool,
                    full: bool) -> None:
    """Image in, landmarks out, with given boxes: crop, batch, network, decode and (3D) depth."""
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.weights.tags import lookup

    image, boxes = tiled(faces)
    benchmark.group = f"end-to-end {model} faces {faces}"
    benchmark.extra_info.update(model=model, runtime=runtime, precision=precision, batch=faces, kind="end-to-end")
    if runtime == "pytorch":
        peer = torch_peers(model)
        benchmark.extra_info["threads"] = threads_of(runtime, peer)
        benchmark.pedantic(lambda: peer.e2e(image, boxes), rounds=rounds(runtime, smoke, full),
                           warmup_rounds=0 if smoke else 1)
        return
    landmarks, depth = sessions(model, runtime, precision)
    predictor = Predictor(get_model(model), landmarks, depth, batch_size=8, subpixel=lookup(model).weights.subpixel)
    benchmark.extra_info["threads"] = threads_of(runtime)
    result = benchmark.pedantic(lambda: predictor.predict(image, boxes), rounds=rounds(runtime, smoke, full),
                                warmup_rounds=0 if smoke else 1)
    assert len(result) == faces


def test_detector(benchmark, smoke: bool) -> None:
    """dlib HOG on the 512x512 photo, for scale against the network times."""
    from fanzoo.detection.dlib_hog import DlibHogDetector

    image, _ = tiled(1)
    detector = DlibHogDetector()
    benchmark.group = "detector"
    benchmark.extra_info.update(kind="detector", runtime="dlib-hog", batch=1, model="-", precision="-", threads=1)
    found = benchmark.pedantic(lambda: detector.detect(image), rounds=1 if smoke else 10, warmup_rounds=0 if smoke else 1)
    assert len(found) == 1
