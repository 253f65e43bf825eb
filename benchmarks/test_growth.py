"""How cost grows: faces per image (1, 4, 16) and image size, end to end through the ONNX Runtime backend."""
from __future__ import annotations

import pytest

from .scenes import resized, tiled
from .test_latency import sessions

MODEL = "2dfan-lite"


@pytest.fixture(scope="module")
def predictor():
    from fanzoo.detection.dlib_hog import DlibHogDetector
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.weights.tags import lookup

    landmarks, _ = sessions(MODEL, "onnxruntime")
    return Predictor(get_model(MODEL), landmarks, detector=DlibHogDetector(), batch_size=16,
                     subpixel=lookup(MODEL).weights.subpixel)


@pytest.mark.parametrize("faces", [1, 4, 16])
def test_faces_per_image(benchmark, predictor, faces: int, smoke: bool) -> None:
    image, boxes = tiled(faces)
    benchmark.group = "growth: faces per image (given boxes)"
    benchmark.extra_info.update(kind="growth-faces", runtime="onnxruntime", model=MODEL, batch=faces)
    result = benchmark.pedantic(lambda: predictor.predict(image, boxes), rounds=1 if smoke else 5,
                                warmup_rounds=0 if smoke else 1)
    assert len(result) == faces


@pytest.mark.parametrize("long_side", [512, 1024, 2048])
def test_image_size(benchmark, predictor, long_side: int, smoke: bool) -> None:
    """With the detector: its cost grows with the pixels, the network's does not."""
    image = resized(long_side)
    benchmark.group = "growth: image size (detector + network, 1 face)"
    benchmark.extra_info.update(kind="growth-size", runtime="onnxruntime", model=MODEL, batch=1,
                                pixels=int(image.shape[0] * image.shape[1]))
    result = benchmark.pedantic(lambda: predictor.predict(image), rounds=1 if smoke else 5,
                                warmup_rounds=0 if smoke else 1)
    assert len(result) >= 1
