"""Latency per backend, side by side with the plain NNabla path and the authors' PyTorch code.

Groups compare one model and batch across runtimes, so the ratios in RESULTS.md come from one run.
"""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import artifact_dir, model_params
from .peers import TorchPeer, reference_python_problem
from .scenes import tiled

MODELS = ["2dfan-lite", "2dfan1", "2dfan2", "2dfan4", "3dfan4"]
RUNTIMES = ["onnxruntime", "nnabla", "nnabla-graph", "pytorch"]
BATCHES = [1, 8]
# nnabla-examples' script runs one face at a time, so its plain NNabla path is measured at batch 1 only
CASES = [(runtime, batch) for runtime in RUNTIMES for batch in BATCHES if not (runtime == "nnabla-graph" and batch > 1)]
ROUNDS = {"onnxruntime": 7, "pytorch": 7, "nnabla": 3, "nnabla-graph": 3}
FAN_STACKS = {"2dfan1": 1, "2dfan2": 2, "2dfan4": 4, "3dfan4": 4}


def sessions(model: str, runtime: str):
    """(landmark session, depth session or None) for fanzoo runtimes."""
    from fanzoo.plugins import get_model, plugins
    from fanzoo_nnabla.graph import GraphSession

    spec = get_model(model)
    names = [spec.name] + ([spec.depth_model] if spec.depth_model else [])
    if runtime == "nnabla-graph":  # what nnabla-examples' script does: the Python graph, no exported file
        out = [GraphSession(get_model(n), model_params(n)[0]) for n in names]
    else:
        backend = plugins().backend(runtime)
        out = []
        for n in names:
            folder = artifact_dir(n, backend.artifact_format)
            from fanzoo.export.manifest import read_manifest
            out.append(backend.load(folder / read_manifest(folder).entry(backend.artifact_format).file))
    return out[0], (out[1] if len(out) > 1 else None)


@pytest.fixture(scope="module")
def torch_peers(tmp_path_factory: pytest.TempPathFactory):
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
            peers[model] = TorchPeer(tmp_path_factory.mktemp(model), model_params(spec.name)[0],
                                     FAN_STACKS[model], depth)
        return peers[model]

    yield get
    for peer in peers.values():
        peer.close()


def rounds(runtime: str, smoke: bool) -> int:
    return 1 if smoke else ROUNDS[runtime]


@pytest.mark.parametrize("runtime, batch", CASES)
@pytest.mark.parametrize("model", MODELS)
def test_network(benchmark, model: str, runtime: str, batch: int, face_crops: np.ndarray, torch_peers,
                 smoke: bool) -> None:
    """Network only: the landmark network (and, for 3D, ResNetDepth) on `batch` face crops."""
    from fanzoo.plugins import get_model

    spec = get_model(model)
    benchmark.group = f"network {model} batch {batch}"
    benchmark.extra_info.update(model=model, runtime=runtime, batch=batch, kind="network", gmacs=spec.gmacs)
    if runtime == "pytorch":
        peer = torch_peers(model)
        timings: list[float] = []

        def run() -> None:  # the peer times itself; the IPC cost (~0.1 ms) stays in the measurement
            timings.append(peer.net(batch))
        benchmark.pedantic(run, rounds=rounds(runtime, smoke), warmup_rounds=0 if smoke else 1)
        benchmark.extra_info["peer_reported_median_s"] = float(np.median(timings))
        return
    landmarks, depth = sessions(model, runtime)
    size = spec.inputs[0].shape[-1]
    x = np.ascontiguousarray(np.resize(face_crops, (batch, *face_crops.shape[1:])))
    import cv2
    if x.shape[1] != size:
        x = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in x])
    from fanzoo.preprocessing import to_network_input
    batch_in = to_network_input(list(x))
    depth_in = np.concatenate([batch_in, np.zeros((batch, 68, size, size), np.float32)], axis=1) if depth else None

    def run() -> None:
        landmarks.run({landmarks.input_names[0]: batch_in})
        if depth is not None:
            depth.run({depth.input_names[0]: depth_in})
    benchmark.pedantic(run, rounds=rounds(runtime, smoke), warmup_rounds=0 if smoke else 1)


@pytest.mark.parametrize("runtime, faces", CASES)
@pytest.mark.parametrize("model", MODELS)
def test_end_to_end(benchmark, model: str, runtime: str, faces: int, torch_peers, smoke: bool) -> None:
    """Image in, landmarks out, with given boxes: crop, batch, network, decode and (3D) depth."""
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.weights.tags import lookup

    image, boxes = tiled(faces)
    benchmark.group = f"end-to-end {model} faces {faces}"
    benchmark.extra_info.update(model=model, runtime=runtime, batch=faces, kind="end-to-end")
    if runtime == "pytorch":
        peer = torch_peers(model)
        benchmark.pedantic(lambda: peer.e2e(image, boxes), rounds=rounds(runtime, smoke),
                           warmup_rounds=0 if smoke else 1)
        return
    landmarks, depth = sessions(model, runtime)
    predictor = Predictor(get_model(model), landmarks, depth, batch_size=8, subpixel=lookup(model).weights.subpixel)
    result = benchmark.pedantic(lambda: predictor.predict(image, boxes), rounds=rounds(runtime, smoke),
                                warmup_rounds=0 if smoke else 1)
    assert len(result) == faces


def test_detector(benchmark, smoke: bool) -> None:
    """dlib HOG on the 512x512 photo, for scale against the network times."""
    from fanzoo.detection.dlib_hog import DlibHogDetector

    image, _ = tiled(1)
    detector = DlibHogDetector()
    benchmark.group = "detector"
    benchmark.extra_info.update(kind="detector", runtime="dlib-hog", batch=1, model="-")
    found = benchmark.pedantic(lambda: detector.detect(image), rounds=1 if smoke else 10, warmup_rounds=0 if smoke else 1)
    assert len(found) == 1

