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


def write_npz(path: Path | str, params: Mapping[str, np.ndarray]) -> None:
    """float32, in the given order, written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{name: np.asarray(array, dtype=np.float32) for name, array in params.items()})


def read_npz(path: Path | str) -> dict[str, np.ndarray]:
    """Every array of a parameter .npz, refusing pickled objects and anything but float32."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            params = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise WeightsError(f"{path} is not a readable parameter .npz: {exc}") from exc
    if not params:
        raise WeightsError(f"{path} holds no parameters")
    for name, array in params.items():
        if array.dtype != np.float32:
            raise WeightsError(f"{path}: parameter {name!r} is {array.dtype}, not float32")
    return params


def is_npz(path: Path) -> bool:
    """A zip of .npy members only (a PyTorch zip checkpoint holds data.pkl and raw storages instead)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return bool(names) and all(n.endswith(".npy") for n in names)
