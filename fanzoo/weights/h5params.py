"""NNabla parameter files (.h5, the layout of ``nn.save_parameters``) read and written with h5py alone.

Reading trusts the header only after checking it: every dataset's name, shape, type, storage and size is
checked (against the graph's shapes when given) before any data is read, so a few-KB file declaring
gigabytes, or pointing at another file's bytes, is refused without allocating them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..errors import WeightsError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_DATASETS = 100_000  # FAN-4 has about a thousand parameters
MAX_BYTES = 1 << 30  # all datasets together, when no expected shapes bound them
MIN_CHUNK_BYTES = 4 << 20  # a chunk may be this large even for a tiny dataset, never larger than its data


def is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == HDF5_SIGNATURE


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise WeightsError(f"NNabla .h5 weight files need h5py: pip install 'fanzoo[h5]' ({exc})") from exc
    return h5py


def _check_dataset(path: Path, name: str, ds: Any, expected: Mapping[str, tuple[int, ...]] | None,
                   model: str) -> int:
    """The dataset's size in bytes, after refusing anything a parameter cannot be."""
    if ds.shape is None:
        raise WeightsError(f"{path}: {name!r} is an empty (null) dataset, not a parameter")
    if ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8):
        raise WeightsError(f"{path}: {name!r} holds {ds.dtype}, not floating-point numbers")
    if ds.is_virtual or ds.id.get_create_plist().get_external_count() > 0:
        raise WeightsError(f"{path}: {name!r} keeps its data in another file (external or virtual dataset); "
                           "refusing to follow it")
    shape = tuple(int(n) for n in ds.shape)
    if expected is not None:
        if name not in expected:
            raise WeightsError(f"{path} does not fit {model}: unexpected parameter {name!r}")
        if shape != tuple(expected[name]):
            raise WeightsError(f"{path} does not fit {model}: parameter {name!r} has shape {shape}, "
                               f"expected {tuple(expected[name])}")
    nbytes = math.prod(shape) * ds.dtype.itemsize
    if ds.chunks is not None and math.prod(ds.chunks) * ds.dtype.itemsize > max(nbytes, MIN_CHUNK_BYTES):
        raise WeightsError(f"{path}: {name!r} is stored in chunks of {ds.chunks} elements, larger than its "
                           f"{shape} data; a parameter file has no reason to")
    return nbytes


def _index(path: Path, name: str, ds: Any, default: int) -> int:
    value = ds.attrs.get("index", default)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise WeightsError(f"{path}: {name!r} has a malformed 'index' attribute ({value!r:.40})")
    return int(value)


def read_h5_params(path: Path | str, expected: Mapping[str, tuple[int, ...]] | None = None,
                   model: str = "the model") -> dict[str, np.ndarray]:
    """Every dataset in the file, by its full path, in the order NNabla saved them.

    With ``expected`` (name -> shape, the graph's), an unexpected name or shape is refused before reading,
    and the data read is bounded by the expected total; otherwise by ``MAX_BYTES``.
    """
    h5py = _h5py()

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    if not is_hdf5(path):
        raise WeightsError(f"{path} is not an HDF5 file (NNabla parameter files are .h5)")
    budget = MAX_BYTES if expected is None else 8 * sum(math.prod(s) for s in expected.values())
    try:
        with h5py.File(path, "r") as f:
            names: list[str] = []

            def visit(name: str, obj: object) -> bool | None:
                if isinstance(obj, h5py.Dataset):
                    names.append(name)
                return True if len(names) > MAX_DATASETS else None  # anything but None stops the visit

            f.visititems(visit)
            if len(names) > MAX_DATASETS:
                raise WeightsError(f"{path} holds more than {MAX_DATASETS} datasets; that is no parameter file")
            total = 0
            for name in names:
                total += _check_dataset(path, name, f[name], expected, model)
                if total > budget:
                    raise WeightsError(f"{path} declares more than {budget >> 20} MiB of parameters"
                                       + ("" if expected is None else ", more than the model holds"))
            order = sorted((_index(path, n, f[n], i), n) for i, n in enumerate(names))
            found = {name: f[name][...] for _, name in order}
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(f"{path} is a damaged or truncated HDF5 file: {exc}") from None
    if not found:
        raise WeightsError(f"{path} holds no parameters")
    return found


def write_h5_params(path: Path | str, params: Mapping[str, np.ndarray], need_grad: bool = True) -> None:
    """Write atomically, float32, with the attributes NNabla's own loader expects."""
    h5py = _h5py()

    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            for index, (name, array) in enumerate(params.items()):
                ds = f.create_dataset(name, data=np.asarray(array, dtype=np.float32))
                ds.attrs["need_grad"] = need_grad and not name.endswith(("/mean", "/var"))
                ds.attrs["index"] = index
