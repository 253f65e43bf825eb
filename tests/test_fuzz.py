"""Fuzz every reader of untrusted bytes: images, .pts, .h5, .pth (zip and legacy), MANIFEST.json, boxes JSON.

Each example runs in a child process under an address-space limit and a timeout (tests/bounded.py): a
crash, a hang, an exception of an unexpected type, or memory beyond the limit fails the test, and
hypothesis shrinks the input that did it. Inputs are valid files with mutations (bit flips, bytes set,
cut, inserted, and header fields overwritten with edge values) and files generated from their structure.

CI runs the "ci" profile: 100 examples per reader (300 took 9 minutes in all on a 2-core AVX2 machine),
derandomized, so that the same code meets the same inputs and a red CI means the code changed (a random CI
run found the NUL in a manifest's file name that failed the 2026-12-03 CI). Exploring is the long run's job, with
a fresh seed each time; it is one command:

    FANZOO_FUZZ=long .venv/bin/python -m pytest tests/test_fuzz.py -p no:cacheprovider

("long": 2000 examples per reader, failures kept in .hypothesis/ to replay; FANZOO_FUZZ_EXAMPLES=N sets
another count.)
"""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import hostile
from .bounded import run_bounded
from .conftest import ROOT
from .fuzz_targets import EXPECTED_ERRORS

settings.register_profile("ci", max_examples=100, deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=int(os.environ.get("FANZOO_FUZZ_EXAMPLES", 2000)), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = os.environ.get("FANZOO_FUZZ", "ci")
EXTRA_BYTES = 1 << 30  # what one read may add to the child's address space
TIMEOUT = 30.0  # seconds per example: the slowest honest read here takes well under one


def check(reader: str, data: bytes) -> None:
    outcome = run_bounded("tests.fuzz_targets:read", reader, data, extra_bytes=EXTRA_BYTES, timeout=TIMEOUT)
    assert outcome.kind == "ok" or outcome.raised(EXPECTED_ERRORS[reader]), \
        f"{reader} reader: {outcome} (input of {len(data)} bytes, starting {data[:40]!r})"


# -- mutations of valid files ------------------------------------------------------------------------------
EDGE_VALUES = [0, 1, 2, 7, 8, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 60000, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


SEEDS: dict[str, list[bytes]] = {}  # by name, so that a failure report names the seeds instead of printing them


@st.composite
def mutated(draw: st.DrawFn, seeds: str) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS[seeds])))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "byte", "int", "cut", "insert", "delete"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "int":
            size, order = draw(st.sampled_from([(2, "<"), (2, ">"), (4, "<"), (4, ">"), (8, "<")]))
            value = draw(st.sampled_from(EDGE_VALUES)) % (1 << (8 * size))
            data[at:at + size] = struct.pack(order + {2: "H", 4: "I", 8: "Q"}[size], value)
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


def _image_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    seeds = [cv2.imencode(suffix, bgr)[1].tobytes() for suffix in (".jpg", ".png", ".tiff", ".webp", ".bmp")]
    seeds.append(cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes())
    seeds.append(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes())
    seeds.append(hostile.tiff_plain(bgr, ">", True))
    seeds.append(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
                 b"\x02\x02D\x01\x00;")
    return seeds


IMAGE_SEEDS = SEEDS["images"] = _image_seeds()


@st.composite
def declared_images(draw: st.DrawFn) -> bytes:
    """Headers declaring any size, over little or no data."""
    width = draw(st.integers(0, 70000))
    height = draw(st.integers(0, 70000))
    kind = draw(st.sampled_from(["tiff", "bmp", "png", "webp", "jpeg"]))
    if kind == "tiff":
        return hostile.tiff_plain(np.zeros((2, 2, 3), np.uint8), draw(st.sampled_from("<>")), draw(st.booleans()),
                                  declare=(width, height))
    if kind == "bmp":
        return hostile.bmp_rle_bomb(max(width, 1), height if draw(st.booleans()) else -max(height, 1))
    if kind == "png":
        return hostile.png_header(width, height, draw(st.sampled_from([1, 8, 16])), draw(st.sampled_from([0, 2, 6])))
    if kind == "webp":
        return hostile.webp_vp8x(max(width, 1) % (1 << 24) or 1, max(height, 1) % (1 << 24) or 1)
    return hostile.jpeg_with_size(SEEDS["images"][0], min(width, 65535), min(height, 65535))


@settings(settings.get_profile(PROFILE))
@given(st.one_of(mutated("images"), declared_images(), st.binary(max_size=64)))
def test_fuzz_images(data: bytes) -> None:
    check("image", data)


PTS_SEED = ("version: 1\nn_points:  68\n{\n" + "\n".join(f"{10 + i:.3f} {20 + i * 0.5:.3f}" for i in range(68))
            + "\n}\n").encode()
SEEDS["pts"] = [PTS_SEED]
PTS_TOKENS = ["version: 1", "n_points:", "{", "}", "68", "-1", "1e308", "nan", "inf", "1e-400", "0x10", "", " ",
              "\n", "3 4 5", "1,2", "\x00", "é", "n_points: 99999999999999999999"]


@settings(settings.get_profile(PROFILE))
@given(st.one_of(mutated("pts"),
                 st.lists(st.sampled_from(PTS_TOKENS), max_size=30).map(lambda t: "\n".join(t).encode()),
                 st.binary(max_size=200)))
def test_fuzz_pts(data: bytes) -> None:
    check("pts", data)


def _h5_seed() -> bytes:
    import tempfile

    from fanzoo.weights.h5params import write_h5_params

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.h5"
        write_h5_params(path, {"conv1/conv/W": np.ones((2, 3), np.float32), "conv1/conv/b": np.zeros(2, np.float32)})
        return path.read_bytes()


SEEDS["h5"] = [_h5_seed()]


@settings(settings.get_profile(PROFILE))
@given(mutated("h5"))
def test_fuzz_h5(data: bytes) -> None:
    check("h5", data)


SMALL_STATE = {"conv1.weight": np.arange(8 * 3 * 7 * 7, dtype=np.float32).reshape(8, 3, 7, 7),
               "conv1.bias": np.zeros(8, np.float32), "bn1.running_mean": np.zeros(8, np.float32),
               "bn1.running_var": np.ones(8, np.float32), "bn1.num_batches_tracked": np.array(3, np.int64)}
PTH_SEEDS = [hostile.zip_checkpoint(hostile.from_arrays(SMALL_STATE)),
             hostile.legacy_checkpoint(hostile.from_arrays(SMALL_STATE, wrap="state_dict"))]
SEEDS["pth"] = PTH_SEEDS
INTS = st.one_of(st.integers(-3, 70), st.sampled_from([2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 62, 2 ** 63 - 1, 2 ** 64,
                                                       -(2 ** 63), 50_000_000]))


@st.composite
def declared_checkpoints(draw: st.DrawFn) -> bytes:
    """Tensor records with any size, stride, offset and storage size, honest data or not."""
    ckpt = hostile.Checkpoint(wrap=draw(st.sampled_from([None, "state_dict"])))
    for i in range(draw(st.integers(1, 3))):
        dims = draw(st.integers(0, 4))
        size = tuple(draw(INTS) for _ in range(dims))
        stride = tuple(draw(INTS) for _ in range(draw(st.sampled_from([dims, dims, max(dims - 1, 0), dims + 1]))))
        numel = draw(INTS)
        type_name = draw(st.sampled_from(["FloatStorage", "DoubleStorage", "LongStorage", "ByteStorage",
                                          "HalfStorage", "BFloat16Storage"]))
        data = draw(st.sampled_from([b"", hostile.floats(16), bytes(64)]))
        ckpt.storages[str(i)] = hostile.StorageRecord(type_name, numel, data)
        name = draw(st.sampled_from(list(SMALL_STATE) + ["module.conv1.weight", "fc.weight"]))
        ckpt.tensors[name] = hostile.TensorRecord(str(i), size, stride, draw(INTS))
    return hostile.zip_checkpoint(ckpt) if draw(st.booleans()) else hostile.legacy_checkpoint(ckpt)


@settings(settings.get_profile(PROFILE))
@given(st.one_of(mutated("pth"), declared_checkpoints()))
def test_fuzz_pth(data: bytes) -> None:
    check("pth", data)


@settings(settings.get_profile(PROFILE))
@given(st.one_of(mutated("pth"), declared_checkpoints()))
def test_fuzz_pth_against_the_graph(data: bytes) -> None:
    check("pth-state-dict", data)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                    max_leaves=20)
MANIFEST_SEED = json.loads((ROOT / "fanzoo" / "bundled" / "2dfan-lite" / "MANIFEST.json").read_text())
SEEDS["manifest"] = [json.dumps(MANIFEST_SEED).encode()]
FILE_NAMES = st.sampled_from(["model.onnx", "../x", "/etc/passwd", "a/../../b", "", ".", "sub/model.onnx", "..",
                              "C:\\x", "\\\\server\\x", "model.onnx\x00", "~/x"])


@st.composite
def manifests(draw: st.DrawFn) -> bytes:
    """The shipped manifest with one field (top level or in its artifact entry) replaced by any JSON value."""
    data = json.loads(json.dumps(MANIFEST_SEED))
    target = data if draw(st.booleans()) else data["artifacts"]["onnx"]
    key = draw(st.sampled_from(sorted(target) + ["extra"]))
    target[key] = draw(FILE_NAMES) if key == "file" and draw(st.booleans()) else draw(JSON)
    return json.dumps(data).encode()


@settings(settings.get_profile(PROFILE))
@given(st.one_of(manifests(), JSON.map(lambda v: json.dumps(v).encode()),
                 mutated("manifest")))
def test_fuzz_manifest(data: bytes) -> None:
    check("manifest", data)


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 30, 10 ** 30), st.text(max_size=5))
BOXES = st.lists(st.lists(NUMBERS, max_size=6), max_size=4)


@settings(settings.get_profile(PROFILE))
@given(st.one_of(BOXES.map(lambda b: json.dumps(b).encode()),
                 st.dictionaries(st.text(max_size=8), BOXES, max_size=3).map(lambda d: json.dumps(d).encode()),
                 JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=100),
                 st.just(b"[" * 50_000 + b"]" * 50_000)))
def test_fuzz_boxes_json(data: bytes) -> None:
    check("boxes-json", data)


@settings(settings.get_profile(PROFILE))
@given(st.one_of(st.text(max_size=40), st.lists(NUMBERS.map(str), max_size=6).map(",".join)).map(str.encode))
def test_fuzz_box_text(data: bytes) -> None:
    check("box-text", data)


def test_seeds_are_valid() -> None:
    """The mutations start from files each reader accepts, so the fuzzer explores past the first check."""
    for data in IMAGE_SEEDS[:-1]:  # the last one is a GIF: unsupported on purpose
        assert run_bounded("tests.fuzz_targets:read", "image", data).kind == "ok"
    for reader, data in (("pts", PTS_SEED), ("h5", _h5_seed()), ("pth", PTH_SEEDS[0]), ("pth", PTH_SEEDS[1]),
                         ("boxes-json", b'{"a.jpg": [[1, 2, 3, 4]]}'), ("manifest", json.dumps(MANIFEST_SEED).encode())):
        outcome = run_bounded("tests.fuzz_targets:read", reader, data)
        assert outcome.kind == "ok", (reader, outcome)
    assert zipfile.is_zipfile(io.BytesIO(PTH_SEEDS[0]))
