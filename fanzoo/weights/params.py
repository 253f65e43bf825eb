"""Parameter sets by NNabla name: checked against the names and shapes a graph expects, stored as .npz.

The cache keeps weights as an uncompressed .npz (numpy alone reads it, no h5py, no pickle).
"""
from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import WeightsError


def check_params(model: str, params: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]],
                 source: str) -> None:
    """Refuse a file with missing, extra or wrong-shaped parameters, naming the first offender."""
    for name, shape in expected.items():
        if name not in params:
            raise WeightsError(f"{source} does not fit {model}: parameter {name!r} is missing "
                               f"({len(params)} parameters in the file, {len(expected)} expected)")
        if tuple(params[name].shape) != tuple(shape):
            raise WeightsError(f"{source} does not fit {model}: parameter {name!r} has shape "
                               f"{tuple(params[name].shape)}, expected {tuple(shape)}")
    for name in params:
        if name not in expected:
            raise WeightsError(f"{source} does not fit {model}: unexpected parameter {name!r}")
    for name, array in params.items():
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsError(f"{source}: parameter {name!r} is {array.dtype}, not floating point")
        if not np.all(np.isfinite(array)):
            raise WeightsError(f"{source}: parameter {name!r} holds NaN or infinite values")


# .npy header readers by format version (np.save writes 1.0, or 2.0 for headers over 64 KiB)
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def write_npz(path: Path | str, params: Mapping[str, np.ndarray]) -> None:
    """float32, in the given order, written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{name: np.asarray(array, dtype=np.float32) for name, array in params.items()})


def read_npz(path: Path | str, expected: Mapping[str, tuple[int, ...]] | None = None,
             model: str = "the model") -> dict[str, np.ndarray]:
    """Every array of a parameter .npz, refusing pickled objects and anything but float32.

    With ``expected`` (name -> shape), each member's header is checked before its data is read, so memory
    stays bounded by the model's size.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    params: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                name = member[: -len(".npy")]
                with archive.open(member) as f:
                    read_header = HEADER_READERS.get(np.lib.format.read_magic(f))
                    if read_header is None:
                        raise WeightsError(f"{path}: parameter {name!r} uses an unknown .npy format version")
                    shape, _, dtype = read_header(f)  # the header only: no data read yet
                    if dtype != np.float32:
                        raise WeightsError(f"{path}: parameter {name!r} is {dtype}, not float32")
                    if expected is not None and name not in expected:
                        raise WeightsError(f"{path} does not fit {model}: unexpected parameter {name!r}")
                    if expected is not None and tuple(shape) != tuple(expected[name]):
                        raise WeightsError(f"{path} does not fit {model}: parameter {name!r} has shape "
                                           f"{tuple(shape)}, expected {tuple(expected[name])}")
                with archive.open(member) as f:
                    params[name] = np.lib.format.read_array(f, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise WeightsError(f"{path} is not a readable parameter .npz: {exc}") from exc
    if not params:
        raise WeightsError(f"{path} holds no parameters")
    return params


def is_npz(path: Path) -> bool:
    """A zip of .npy members only (a PyTorch zip checkpoint holds data.pkl and raw storages instead)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        return False  # a damaged zip: the zip reader that follows says what is wrong with it
    return bool(names) and all(n.endswith(".npy") for n in names)
