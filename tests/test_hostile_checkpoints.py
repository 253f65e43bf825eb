"""PyTorch checkpoints that lie about their tensors: refused with WeightsError, in bounded memory and time.

Each hostile file is read in a child process (tests/bounded.py) under an address-space limit, so a reader
that segfaults, spins or allocates gigabytes fails the test instead of the test run.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from fanzoo.errors import WeightsError
from fanzoo.weights.names import unwrap_state_dict
from fanzoo.weights.torch_checkpoint import load_torch_checkpoint

from . import hostile
from .bounded import run_bounded
from .conftest import FIXTURES

READER = "fanzoo.weights.torch_checkpoint:load_torch_checkpoint"
STATE_READER = "fanzoo.weights.torch_checkpoint:load_torch_state_dict"
IMPORT_READER = "fanzoo.weights.importer:read_any_weights"
SMALL = 256 << 20  # address space a reader may add: far more than any file here honestly needs


def write(tmp_path: Path, ckpt: hostile.Checkpoint, fmt: str, name: str = "x") -> Path:
    path = tmp_path / f"{name}.{fmt}.pth"
    path.write_bytes(hostile.zip_checkpoint(ckpt) if fmt == "zip" else hostile.legacy_checkpoint(ckpt))
    return path


def fixture_state() -> dict[str, np.ndarray]:
    return unwrap_state_dict(load_torch_checkpoint(FIXTURES / "tiny_fan_zip.pth"))


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("wrap", [None, "state_dict"])
def test_writer_matches_torch_made_files(tmp_path: Path, fmt: str, wrap: str | None) -> None:
    """The hand-written layout reads back exactly like the torch-made fixture, so the hostile files below
    differ from real ones only where they lie."""
    state = fixture_state()
    path = write(tmp_path, hostile.from_arrays(state, wrap), fmt)
    back = unwrap_state_dict(load_torch_checkpoint(path))
    assert back.keys() == state.keys()
    for key in state:
        assert back[key].dtype == state[key].dtype
        np.testing.assert_array_equal(back[key], state[key])


LIES = {
    # the file: 4 floats of storage, a 50-million-element tensor walking backwards out of it
    "negative-stride": hostile.single_tensor((50_000_000,), (-1000,)),
    # a smaller variant that copied heap memory from before the buffer into a parameter
    "negative-stride-small": hostile.single_tensor((16,), (-1,), numel=4, offset=3),
    "fewer-strides-than-dims": hostile.single_tensor((2, 2), (1,)),
    "more-strides-than-dims": hostile.single_tensor((4,), (1, 1)),
    "past-the-end": hostile.single_tensor((10,), (1,)),
    "offset-past-the-end": hostile.single_tensor((1,), (1,), offset=100),
    "negative-offset": hostile.single_tensor((2,), (1,), offset=-2),
    "negative-size": hostile.single_tensor((-3,), (1,)),
    "huge-extent-overflows-int64": hostile.single_tensor((2 ** 62, 3), (2 ** 62, 1)),
    # stride 0 repeats one float: in bounds, but a 40 GB copy
    "broadcast-bomb": hostile.single_tensor((100_000, 100_000), (0, 0)),
    "unknown-dtype": hostile.single_tensor((4,), (1,), type_name="BFloat16Storage"),
    "negative-storage-size": hostile.single_tensor((1,), (1,), numel=-4, data=hostile.floats(4)),
    "storage-larger-than-file": hostile.single_tensor((4,), (1,), numel=2 ** 40, data=hostile.floats(4)),
}


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("lie", sorted(LIES))
def test_lying_tensor_records_are_refused(tmp_path: Path, fmt: str, lie: str) -> None:
    path = write(tmp_path, LIES[lie], fmt, lie)
    outcome = run_bounded(READER, path, extra_bytes=SMALL, timeout=30)
    assert outcome.raised(WeightsError), outcome


def test_error_names_the_problem(tmp_path: Path) -> None:
    cases = {"negative-stride": "stride", "fewer-strides-than-dims": "stride", "past-the-end": "storage",
             "unknown-dtype": "BFloat16"}
    for lie, words in cases.items():
        with pytest.raises(WeightsError, match=words) as info:
            load_torch_checkpoint(write(tmp_path, LIES[lie], "zip", lie))
        assert "conv1.weight" in str(info.value) or lie == "unknown-dtype"


def test_legacy_negative_size_header(tmp_path: Path) -> None:
    """The per-storage size in a legacy file's data section, negative (the pickle agrees with it)."""
    ckpt = hostile.single_tensor((1,), (1,), numel=-1)
    ckpt.storages["0"].legacy_numel = -1
    path = tmp_path / "neg.pth"
    path.write_bytes(hostile.legacy_checkpoint(ckpt))
    outcome = run_bounded(READER, path, extra_bytes=SMALL)
    assert outcome.raised(WeightsError), outcome


def _shared_references() -> bytes:
    """60 levels of lists, each holding the one below twice: 2**60 visits for a naive tree walk."""
    out = b"\x80\x02]q\x00"  # the innermost empty list, memo 0
    for level in range(1, 61):
        out += b"(h" + bytes([level - 1]) + b"h" + bytes([level - 1]) + b"lq" + bytes([level])
    return out + b"."


PICKLE_BOMBS = {
    # memo index 2**31 - 1: the C unpickler would grow its memo table to 16 GiB
    "memo-index": b"\x80\x02}r\xff\xff\xff\x7f.",
    # bytes objects declared 2 GiB and 1 TiB long, allocated before they are read
    "declared-length": b"\x80\x03B\xff\xff\xff\x7fx.",
    "declared-length-8": b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"x.",
    "shared-references": _shared_references(),
    # lists nested 200,000 deep: a recursive walk overflows the stack
    "deep-nesting": b"\x80\x02" + b"]" * 200_000 + b"a" * 199_999 + b".",
}


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("bomb", sorted(PICKLE_BOMBS))
def test_pickle_bombs_are_refused(tmp_path: Path, fmt: str, bomb: str) -> None:
    ckpt = hostile.Checkpoint()
    path = tmp_path / f"{bomb}.pth"
    data = PICKLE_BOMBS[bomb]
    path.write_bytes(hostile.zip_checkpoint(ckpt, data) if fmt == "zip" else hostile.legacy_checkpoint(ckpt, data))
    outcome = run_bounded(READER, path, extra_bytes=SMALL, timeout=30)
    assert outcome.raised(WeightsError), outcome


# -- with the graph's shapes: names and sizes are checked before any tensor data is read --------------------
EXPECTED = {"conv1/conv/W": (8, 3, 7, 7), "conv1/conv/b": (8,), "bn1/bn/gamma": (1, 8, 1, 1),
            "bn1/bn/beta": (1, 8, 1, 1), "bn1/bn/mean": (1, 8, 1, 1), "bn1/bn/var": (1, 8, 1, 1)}


def honest(**changes: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    state = {"conv1.weight": rng.normal(size=(8, 3, 7, 7)).astype(np.float32),
             "conv1.bias": np.zeros(8, np.float32), "bn1.weight": np.ones(8, np.float32),
             "bn1.bias": np.zeros(8, np.float32), "bn1.running_mean": np.zeros(8, np.float32),
             "bn1.running_var": np.ones(8, np.float32), "bn1.num_batches_tracked": np.array(7, np.int64)}
    state.update(changes)
    return state


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_expected_shapes_accept_an_honest_file(tmp_path: Path, fmt: str) -> None:
    from fanzoo.weights.importer import read_any_weights

    path = write(tmp_path, hostile.from_arrays(honest(), wrap="state_dict"), fmt)
    params, kind = read_any_weights(path, EXPECTED)
    assert kind == "torch" and params.keys() == EXPECTED.keys()
    assert all(params[k].shape == EXPECTED[k] for k in EXPECTED)


def lazy_storage(numel: int) -> hostile.Checkpoint:
    """conv1.weight declared over ``numel`` floats whose bytes are (mostly) not in the file."""
    ckpt = hostile.from_arrays(honest())
    del ckpt.storages[ckpt.tensors["conv1.weight"].storage]
    ckpt.tensors["conv1.weight"] = hostile.TensorRecord("big", (numel,), (1,))
    ckpt.storages["big"] = hostile.StorageRecord("FloatStorage", numel, hostile.floats(4))
    return ckpt


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_wrong_element_count_is_refused_before_reading(tmp_path: Path, fmt: str) -> None:
    from fanzoo.weights.importer import read_any_weights

    path = write(tmp_path, lazy_storage(50_000_000), fmt)
    with pytest.raises(WeightsError, match="conv1.weight") as info:
        read_any_weights(path, EXPECTED)
    assert "1176" in str(info.value) and "truncated" not in str(info.value)


def test_unknown_name_is_refused_before_reading(tmp_path: Path) -> None:
    from fanzoo.weights.importer import read_any_weights

    path = write(tmp_path, hostile.from_arrays(honest(**{"fc.weight": np.zeros((4, 4), np.float32)})), "zip")
    with pytest.raises(WeightsError, match="fc.weight"):
        read_any_weights(path, EXPECTED)


def test_damaged_zip_central_directory(tmp_path: Path) -> None:
    """Found by the fuzz suite: a central directory entry whose signature is damaged (the end record still
    found) raised zipfile.BadZipFile from the check for an .npz, before any reader could say what was wrong."""
    from fanzoo.weights.importer import read_any_weights

    data = bytearray(hostile.zip_checkpoint(hostile.from_arrays(honest())))
    entry = data.index(b"PK\x01\x02")
    data[entry + 3] = 0x03
    path = tmp_path / "damaged.pth"
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged zip"):
        read_any_weights(path, EXPECTED)


def test_zip_entry_that_expands_to_gigabytes(tmp_path: Path) -> None:
    """A small .pth whose storage entry is deflated zeros: 1 MB on disk, 256 MiB declared and expanded.
    With the graph's shapes it is refused from the header alone, well inside a 128 MiB allowance."""
    numel = 64 << 20
    path = tmp_path / "bomb.pth"
    path.write_bytes(hostile.zip_checkpoint(lazy_storage(numel), omit=("big",)))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("archive/data/big", "w", force_zip64=True) as entry:
            zeros = bytes(1 << 24)
            for _ in range(numel * 4 // len(zeros)):
                entry.write(zeros)
    assert path.stat().st_size < 4 << 20
    outcome = run_bounded(IMPORT_READER, path, EXPECTED, extra_bytes=128 << 20)
    assert outcome.raised(WeightsError), outcome


def test_compressed_storage_other_than_deflate_is_refused(tmp_path: Path) -> None:
    data = hostile.zip_checkpoint(hostile.from_arrays(honest()), compression=zipfile.ZIP_LZMA)
    path = tmp_path / "lzma.pth"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match="compress"):
        load_torch_checkpoint(path)
