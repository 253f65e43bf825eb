"""NNabla .h5 parameter files that lie: names, shapes, sizes, types and storage are checked from the header,
before any data is read, and every refusal is a WeightsError in bounded memory."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from fanzoo.errors import WeightsError
from fanzoo.weights.h5params import read_h5_params, write_h5_params

from .bounded import run_bounded

READER = "fanzoo.weights.h5params:read_h5_params"
IMPORT_READER = "fanzoo.weights.importer:read_any_weights"
EXPECTED = {"conv1/conv/W": (8, 3, 7, 7), "conv1/conv/b": (8,)}


def honest(path: Path) -> Path:
    write_h5_params(path, {name: np.ones(shape, np.float32) for name, shape in EXPECTED.items()})
    return path


def test_honest_file_reads_with_and_without_expected_shapes(tmp_path: Path) -> None:
    path = honest(tmp_path / "ok.h5")
    for expected in (None, EXPECTED):
        params = read_h5_params(path, expected)
        assert list(params) == list(EXPECTED) and params["conv1/conv/W"].shape == (8, 3, 7, 7)


def empty_dataset(path: Path, shape: tuple[int, ...], **options) -> Path:
    """A dataset declared ``shape`` with no data written: the file stays small, a read allocates it all."""
    with h5py.File(path, "w") as f:
        f.create_dataset("conv1/conv/W", shape=shape, dtype=np.float32, **options)
    return path


def test_empty_huge_dataset_is_refused_from_its_header(tmp_path: Path) -> None:
    """The issue's file: an empty 50000^2 float32 dataset (9.3 GiB when read), a few KB on disk."""
    path = empty_dataset(tmp_path / "huge.h5", (50_000, 50_000))
    assert path.stat().st_size < 100_000
    for reader, args in ((READER, ()), (IMPORT_READER, ()), (IMPORT_READER, (EXPECTED,))):
        outcome = run_bounded(reader, path, *args, extra_bytes=256 << 20)
        assert outcome.raised(WeightsError), (reader, args, outcome)


def test_chunk_larger_than_the_data_is_refused(tmp_path: Path) -> None:
    """One element, in a gzip chunk declared 32 M elements long: reading it decompresses all 128 MiB."""
    path = tmp_path / "chunk.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("conv1/conv/W", shape=(1,), maxshape=(None,), chunks=(32 << 20,), dtype=np.float32,
                              compression="gzip")
        ds[0] = 1.0
    assert path.stat().st_size < 1 << 20
    outcome = run_bounded(READER, path)
    assert outcome.raised(WeightsError) and outcome.peak_growth < 64 << 20, outcome


def test_wrong_shape_and_unknown_name_are_refused_before_reading(tmp_path: Path) -> None:
    wrong = empty_dataset(tmp_path / "wrong.h5", (50_000, 50_000))
    with pytest.raises(WeightsError, match="conv1/conv/W.*50000"):
        read_h5_params(wrong, EXPECTED)
    with h5py.File(tmp_path / "extra.h5", "w") as f:
        f.create_dataset("fc/affine/W", data=np.zeros((2, 2), np.float32))
    with pytest.raises(WeightsError, match="fc/affine/W"):
        read_h5_params(tmp_path / "extra.h5", EXPECTED)


@pytest.mark.parametrize("kind", ["string", "compound", "null", "bad-index"])
def test_odd_datasets_are_weights_errors(tmp_path: Path, kind: str) -> None:
    """A string dataset used to end in a ValueError traceback from the float32 conversion."""
    path = tmp_path / f"{kind}.h5"
    with h5py.File(path, "w") as f:
        if kind == "string":
            f.create_dataset("conv1/conv/W", data=np.array([b"not", b"numbers"]))
        elif kind == "compound":
            f.create_dataset("conv1/conv/W", data=np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))
        elif kind == "null":
            f.create_dataset("conv1/conv/W", data=h5py.Empty("f4"))
        else:
            ds = f.create_dataset("conv1/conv/W", data=np.zeros(3, np.float32))
            ds.attrs["index"] = np.arange(5)
    for reader, args in ((READER, ()), (IMPORT_READER, ())):
        outcome = run_bounded(reader, path, *args)
        assert outcome.raised(WeightsError), (kind, reader, outcome)


def test_external_storage_is_refused(tmp_path: Path) -> None:
    """A dataset whose bytes live in another file: reading it would read that file (here, any file at all)."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(8, dtype=np.float32).tobytes())
    path = tmp_path / "external.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("conv1/conv/b", shape=(8,), dtype=np.float32, external=[(str(secret), 0, 32)])
    with pytest.raises(WeightsError, match="external|another file"):
        read_h5_params(path)
