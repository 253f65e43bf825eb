"""`fanzoo weights import`: an official-layout NNabla .h5 or an authors' PyTorch checkpoint -> the cache."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..registry import ModelSpec
from .h5params import is_hdf5, read_h5_params, write_h5_params
from .names import torch_element_counts, torch_to_nnabla
from .store import cached_weights
from .torch_checkpoint import load_torch_state_dict

log = logging.getLogger(__name__)


def read_any_weights(path: Path | str, expected: Mapping[str, tuple[int, ...]] | None = None,
                     model: str = "the model") -> tuple[dict[str, np.ndarray], str]:
    """Parameters in NNabla names from either format, and the format's name.

    With ``expected`` (NNabla name -> shape, the graph's), every name and size in the file's header is
    checked against it before any parameter data is read, so memory stays bounded by the model's size.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty")
    if is_hdf5(path):
        return {k: np.asarray(v, dtype=np.float32) for k, v in read_h5_params(path, expected, model).items()}, "nnabla-h5"
    counts = torch_element_counts(expected) if expected is not None else None
    return torch_to_nnabla(load_torch_state_dict(path, counts, model)), "torch"


def import_weights(spec: ModelSpec, source: Path | str, target: Path | None = None) -> Path:
    """Convert, check every name and shape against the graph, then write atomically into the cache.

    Nothing in the cache changes unless the whole file is valid.
    """
    from ..graph import check_params, expected_shapes  # builds the graph: needs nnabla

    expected = expected_shapes(spec)
    params, fmt = read_any_weights(source, expected, spec.name)
    check_params(spec, params, expected, str(source))
    ordered = {name: params[name] for name in expected}
    target = target or cached_weights(spec)
    write_h5_params(target, ordered)
    log.info("imported %s weights for %s from %s into %s", fmt, spec.name, source, target)
    return target
