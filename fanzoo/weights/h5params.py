"""NNabla parameter files (.h5, the layout of ``nn.save_parameters``) read and written with h5py alone."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import WeightsError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == HDF5_SIGNATURE


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise WeightsError(f"NNabla .h5 weight files need h5py: pip install 'fanzoo[h5]' ({exc})") from exc
    return h5py


def read_h5_params(path: Path | str) -> dict[str, np.ndarray]:
    """Every dataset in the file, by its full path, in the order NNabla saved them."""
    h5py = _h5py()

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    if not is_hdf5(path):
        raise WeightsError(f"{path} is not an HDF5 file (NNabla parameter files are .h5)")
    found: list[tuple[int, str, np.ndarray]] = []
    try:
        with h5py.File(path, "r") as f:
            def visit(name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    found.append((int(obj.attrs.get("index", len(found))), name, obj[...]))
            f.visititems(visit)
    except (OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"{path} is a damaged or truncated HDF5 file: {exc}") from exc
    if not found:
        raise WeightsError(f"{path} holds no parameters")
    return {name: array for _, name, array in sorted(found, key=lambda t: t[0])}


def write_h5_params(path: Path | str, params: Mapping[str, np.ndarray], need_grad: bool = True) -> None:
    """Write atomically, float32, with the attributes NNabla's own loader expects."""
    h5py = _h5py()

    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as f:
            for index, (name, array) in enumerate(params.items()):
                ds = f.create_dataset(name, data=np.asarray(array, dtype=np.float32))
                ds.attrs["need_grad"] = need_grad and not name.endswith(("/mean", "/var"))
                ds.attrs["index"] = index
