"""Acceptance run: every known hostile file, passed to the `fanzoo` command in a real process under a 3 GB
address-space limit (RLIMIT_AS). Each run must end with one-line errors (no traceback, no codec noise), the
documented exit code (1: some files failed, 2: a usage error), an unchanged cache, and no file of the
user's overwritten.

The hostile files are the ones issue 14 reported (and their kin): decompression bombs in TIFF, BMP, PNG,
WebP and JPEG headers, an 8 GB sparse file, a GIF, lying PyTorch checkpoints and .h5 files, damaged or
swapped artifacts, malicious manifests, huge boxes, and outputs that cannot or must not be written.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from . import hostile
from .conftest import ROOT

ASTRONAUT = ROOT / "examples" / "images" / "astronaut.jpg"
BOX = "179,83,266,170"
ADDRESS_SPACE = 3 * 10 ** 9
SUMMARY = " files failed"


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file below the folders, by path, with its sha256 (sparse giants by size and mtime only)."""
    state = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                state[str(path)] = (f"{st.st_size}:{st.st_mtime_ns}" if st.st_size > 64 << 20
                                    else hashlib.sha256(path.read_bytes()).hexdigest())
    return state


class Session:
    """A user's folder and a fanzoo cache, and the `fanzoo` command run on them under the limit."""

    def __init__(self, root: Path) -> None:
        self.user, self.home = root / "user", root / "home"
        self.user.mkdir()
        self.home.mkdir()

    def run(self, *args: str | Path, code: int, failing: list[Path] = ()) -> subprocess.CompletedProcess:
        before = snapshot(self.user, self.home)
        env = {**os.environ, "FANZOO_HOME": str(self.home), "NO_COLOR": "1"}
        env.pop("FANZOO_DEBUG", None)
        run = subprocess.run([sys.executable, "-m", "fanzoo", *map(str, args)], cwd=self.user, env=env,
                             capture_output=True, text=True, timeout=900, preexec_fn=_limit)
        what = f"fanzoo {' '.join(map(str, args))}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        assert run.returncode == code, what
        assert "Traceback" not in run.stderr + run.stdout, what
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        if code == 2:  # click's usage message: a usage line, a hint, and the one error line
            assert sum(line.startswith("Error:") or line.startswith("error:") for line in lines) == 1, what
        else:
            errors = [line for line in lines if line.startswith("error: ")]
            others = [line for line in lines if not line.startswith("error: ") and not line.endswith(SUMMARY)]
            assert not others, f"lines that are not one-line errors: {others}\n{what}"
            for path in failing:
                assert sum(path.name in line for line in errors) == 1, f"{path.name}: not one line\n{what}"
            assert len(errors) == (max(len(failing), 1) if code else 0), what
        after = snapshot(self.user, self.home)
        changed = [p for p in before if after.get(p) != before[p]]
        assert not changed, f"changed or removed by the run: {changed}\n{what}"
        home_added = [p for p in after if p not in before and p.startswith(str(self.home))]
        assert not home_added or code == 0, f"written into the cache by a failed run: {home_added}\n{what}"
        return run


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    session = Session(tmp_path_factory.mktemp("acceptance"))
    shutil.copy(ASTRONAUT, session.user / "good.jpg")
    # a first honest run: the cache then holds what a user's cache holds (the verified-artifact record)
    session.run("predict", "--box", BOX, "good.jpg", "--json", "first.json", code=0)
    return session


def small_jpeg() -> bytes:
    import cv2
    return cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()


def test_hostile_images_in_one_batch(session: Session) -> None:
    folder = session.user / "images"
    folder.mkdir()
    files = {
        "tiff-20000x15000.tif": hostile.tiff_bomb(20000, 15000),
        "tiff-30000x30000.tif": hostile.tiff_bomb(30000, 30000),
        "bmp-rle.bmp": hostile.bmp_rle_bomb(20000, 15000),
        "png-16bit.png": hostile.png_header(12000, 12000, depth=16),
        "webp.webp": hostile.webp_vp8x(16384, 16384),
        "jpeg-60000.jpg": hostile.jpeg_with_size(small_jpeg(), 60000, 60000),
        "cut.jpg": ASTRONAUT.read_bytes()[:-3000],
        "text.jpg": b"not an image",
        "empty.png": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with open(folder / "sparse-8gb.jpg", "wb") as f:  # 8 GB on paper, a few KB on disk
        f.write(small_jpeg())
        f.truncate(8 << 30)
    failing = sorted(p for p in folder.iterdir())
    shutil.copy(ASTRONAUT, folder / "zz-good.jpg")  # after the bad ones: the batch goes on
    gif = session.user / "anim.gif"  # a folder lists only image suffixes: a GIF is given by name
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00"
                    b"\x01\x00\x00\x02\x02D\x01\x00;")
    failing.append(gif)
    run = session.run("predict", "--box", BOX, folder, gif, "--json", "images.json", code=1, failing=failing)
    assert "zz-good.jpg: 1 face" in run.stdout
    doc = json.loads((session.user / "images.json").read_text())
    assert sum(1 for image in doc["images"] if image["error"]) == len(failing)


@pytest.mark.parametrize("box", ["0,0,1e6,1e6", "0,0,1e308,1e308"])
def test_huge_boxes(session: Session, box: str) -> None:
    session.run("predict", "--box", box, "good.jpg", "--json", f"huge-{box}.json", code=1,
                failing=[session.user / "good.jpg"])


@pytest.mark.parametrize("args", [
    ["--model", "4dfan"], ["--backend", "tensorflow"], ["--detector", "nope"], ["--box", "1,2,3"],
    ["--json", "."], ["--json", "good.jpg"], ["--output", "good.jpg"], ["--pts", "good.jpg"],
], ids=lambda a: " ".join(a))
def test_usage_errors(session: Session, args: list[str]) -> None:
    session.run("predict", *args, "good.jpg", code=2)


def test_malformed_boxes_json(session: Session) -> None:
    (session.user / "boxes.json").write_text("[" * 100_000 + "]" * 100_000)
    session.run("predict", "--boxes-json", "boxes.json", "good.jpg", code=2)


def test_same_stem_outputs(session: Session) -> None:
    for sub in ("a", "b"):
        (session.user / sub).mkdir(exist_ok=True)
        shutil.copy(ASTRONAUT, session.user / sub / "x.jpg")
    session.run("predict", "--box", BOX, "a/x.jpg", "b/x.jpg", "--output", "out", "--pts", "pts", code=2)


def test_export_out_that_cannot_be_written(session: Session) -> None:
    session.run("export", "2dfan1", "--format", "onnx", "--random-weights", "1", "--out", "good.jpg/exported", code=2)


# -- weights: hostile files imported into the cache --------------------------------------------------------
def hostile_weights(folder: Path) -> dict[str, Path]:
    files = {}
    ckpt = hostile.single_tensor((50_000_000,), (-1000,))
    files["negative-stride.pth"] = hostile.zip_checkpoint(ckpt)
    files["negative-stride-legacy.pth.tar"] = hostile.legacy_checkpoint(ckpt)
    negative = hostile.single_tensor((1,), (1,), numel=-1)
    negative.storages["0"].legacy_numel = -1
    files["negative-size.pth.tar"] = hostile.legacy_checkpoint(negative)
    files["evil-pickle.pth"] = hostile.zip_checkpoint(hostile.Checkpoint(), b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR.")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    paths = {name: folder / name for name in files}
    # a 2 GiB zip member behind a few MB: the storage declared honestly, the graph expects 1176 elements
    bomb = hostile.single_tensor((512 << 20,), (1,), numel=512 << 20, data=b"")
    paths["zip-bomb.pth"] = folder / "zip-bomb.pth"
    paths["zip-bomb.pth"].write_bytes(hostile.zip_checkpoint(bomb, omit=("0",)))
    with zipfile.ZipFile(paths["zip-bomb.pth"], "a", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("archive/data/0", "w", force_zip64=True) as entry:
            zeros = bytes(64 << 20)
            for _ in range(32):
                entry.write(zeros)
    with h5py.File(folder / "empty-50000.h5", "w") as f:
        f.create_dataset("conv1/conv/W", shape=(50_000, 50_000), dtype=np.float32)
    with h5py.File(folder / "strings.h5", "w") as f:
        f.create_dataset("conv1/conv/W", data=np.array([b"not", b"numbers"]))
    paths["empty-50000.h5"] = folder / "empty-50000.h5"
    paths["strings.h5"] = folder / "strings.h5"
    return paths


def test_hostile_weights_leave_the_cache_alone(session: Session) -> None:
    pytest.importorskip("nnabla")  # importing checks names and shapes against the graph, which NNabla builds
    folder = session.user / "weights"
    folder.mkdir()
    for name, path in hostile_weights(folder).items():
        assert path.stat().st_size < 8 << 20, name
        session.run("weights", "import", "2dfan-lite", path, code=1, failing=[path])
    assert not Path("/tmp/fanzoo-pwned").exists()


# -- artifacts: damaged, swapped or escaping -------------------------------------------------------------------
def artifacts_copy(session: Session, name: str) -> Path:
    from fanzoo.artifacts import bundled_artifacts
    from fanzoo.weights.tags import lookup

    folder = session.user / name
    shutil.copytree(bundled_artifacts(lookup("2dfan-lite").weights), folder / "2dfan-lite")
    return folder


def edit_manifest(folder: Path, change) -> None:
    path = folder / "2dfan-lite" / "MANIFEST.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def test_damaged_and_malicious_artifact_folders(session: Session) -> None:
    flipped = artifacts_copy(session, "flipped")
    with open(flipped / "2dfan-lite" / "model.onnx", "r+b") as f:
        f.seek(5000)
        f.write(b"\xff\xfe\xfd")
    listed = artifacts_copy(session, "listed")
    (listed / "2dfan-lite" / "MANIFEST.json").write_text("[]")
    escaping = artifacts_copy(session, "escaping")
    shutil.copy(escaping / "2dfan-lite" / "model.onnx", session.user / "evil.onnx")
    edit_manifest(escaping, lambda d: {**d, "artifacts": {"onnx": {**d["artifacts"]["onnx"],
                                                                    "file": "../../evil.onnx"}}})
    for folder in (flipped, listed, escaping):
        session.run("predict", "--box", BOX, "--artifacts", folder.name, "good.jpg", "--json", "-", code=1)


def test_damaged_cache_is_refused_and_left_as_it_is(session: Session, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache's artifact of weights the user imported (bound at import), with flipped bytes: refused, not
    bound again over it."""
    from fanzoo.plugins import get_model
    from fanzoo.weights.h5params import read_h5_params, write_h5_params
    from fanzoo.weights.importer import import_file
    from fanzoo.weights.store import bundled_weights
    from fanzoo.weights.tags import lookup

    home = tmp_path / "damaged-home"
    other = tmp_path / "other.h5"
    write_h5_params(other, {k: v * 1.01 for k, v in read_h5_params(bundled_weights(lookup("2dfan-lite").weights)).items()})
    monkeypatch.setenv("FANZOO_HOME", str(home))
    done = import_file(get_model("2dfan-lite"), other)
    assert done.model.name == "2dfan-lite.local" and done.artifact is not None
    with open(done.artifact, "r+b") as f:
        f.seek(5000)
        f.write(b"\xff\xfe\xfd")
    damaged = Session.__new__(Session)
    damaged.user, damaged.home = session.user, home
    damaged.run("predict", "--model", "2dfan-lite.local", "--box", BOX, "good.jpg", "--json", "-", code=1)
