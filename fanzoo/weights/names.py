"""The mechanical maps between the three layouts of the same weights, all in this one place.

PyTorch (the authors') <-> NNabla (fanzoo's names): conv ``a.b.weight``/``a.b.bias`` <-> ``a/b/conv/W``/``/b``;
BatchNorm weight/bias/running_mean/running_var <-> ``a/b/bn/gamma|beta|mean|var`` shaped (1, C, 1, 1);
Linear <-> ``a/b/affine/W`` (transposed) and ``/b``.
NNabla <-> ONNX (nnabla-converter's initializers, same names): BatchNorm vectors are (C,); convolutions and
affines keep NNabla's layout (the affine becomes a Gemm on the (in, out) weight, transB=0).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import WeightsError

BN_FIELDS = {"weight": "gamma", "bias": "beta", "running_mean": "mean", "running_var": "var"}
BN_FIELDS_BACK = {v: k for k, v in BN_FIELDS.items()}


def unwrap_state_dict(checkpoint: Any, tensor_type: type = np.ndarray) -> dict[str, Any]:
    """The authors' FAN files are a plain state dict; depth is ``{'state_dict': {'module.<name>': ...}}``.

    ``tensor_type`` is what every value must be: arrays, or the checkpoint reader's records before reading.
    """
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise WeightsError("the checkpoint holds no state dict (expected a mapping of parameter names to tensors)")
    out: dict[str, Any] = {}
    for key, value in checkpoint.items():
        if not isinstance(key, str):
            raise WeightsError(f"the checkpoint has a non-string key {key!r:.40}")
        if not isinstance(value, tensor_type):
            raise WeightsError(f"checkpoint entry {key!r:.80} is not a tensor")
        name = key[len("module."):] if key.startswith("module.") else key  # DataParallel prefix
        out[name] = value
    return out


def torch_name(name: str) -> str:
    """The authors' state-dict name of an NNabla parameter name."""
    try:
        scope, kind, field = name.rsplit("/", 2)
        prefix = scope.replace("/", ".")
        if kind == "bn":
            return f"{prefix}.{BN_FIELDS_BACK[field]}"
        if kind in ("conv", "affine") and field in ("W", "b"):
            return f"{prefix}.{'weight' if field == 'W' else 'bias'}"
    except (ValueError, KeyError):
        pass
    raise WeightsError(f"cannot map NNabla parameter {name!r} to a PyTorch name")


def torch_element_counts(expected: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """State-dict name -> element count, from the graph's NNabla shapes (BatchNorm's step counter included)."""
    counts = {torch_name(name): int(np.prod(shape, dtype=object)) for name, shape in expected.items()}
    for name in expected:
        if name.endswith("/bn/mean"):
            counts[torch_name(name).rsplit(".", 1)[0] + ".num_batches_tracked"] = 1
    return counts


def torch_to_nnabla(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and reshape a PyTorch FAN / ResNetDepth state dict into NNabla parameters (float32)."""
    bn_prefixes = {k[: -len(".running_mean")] for k in state if k.endswith(".running_mean")}
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        prefix, _, field = key.rpartition(".")
        if field == "num_batches_tracked":
            continue  # a training counter, not a parameter
        scope = prefix.replace(".", "/")
        if prefix in bn_prefixes:
            if field not in BN_FIELDS:
                raise WeightsError(f"unexpected BatchNorm entry {key!r} in the checkpoint")
            out[f"{scope}/bn/{BN_FIELDS[field]}"] = value.reshape(1, -1, 1, 1)
        elif value.ndim == 2 and field == "weight":
            out[f"{scope}/affine/W"] = value.T
        elif field in ("weight", "bias"):
            if prefix + ".weight" in state and state[prefix + ".weight"].ndim == 2:
                out[f"{scope}/affine/b"] = value
            else:
                out[f"{scope}/conv/{'W' if field == 'weight' else 'b'}"] = value
        else:
            raise WeightsError(f"unexpected entry {key!r} in the checkpoint")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def nnabla_to_torch(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse map, for the fixture generator and for users who want a face-alignment state dict."""
    out: dict[str, np.ndarray] = {}
    for name, value in params.items():
        scope, kind, field = name.rsplit("/", 2)
        prefix = scope.replace("/", ".")
        if kind == "bn":
            out[f"{prefix}.{BN_FIELDS_BACK[field]}"] = value.reshape(-1)
        elif kind == "conv":
            out[f"{prefix}.{'weight' if field == 'W' else 'bias'}"] = value
        elif kind == "affine":
            out[f"{prefix}.{'weight' if field == 'W' else 'bias'}"] = value.T if field == "W" else value
        else:
            raise WeightsError(f"cannot map NNabla parameter {name!r} to a PyTorch name")
    return out


def _kind(name: str) -> str:
    parts = name.rsplit("/", 2)
    if len(parts) != 3 or parts[1] not in ("conv", "bn", "affine"):
        raise WeightsError(f"{name!r} is not a convolution, BatchNorm or affine parameter name")
    return parts[1]


def to_onnx_layout(name: str, value: np.ndarray) -> np.ndarray:
    """An NNabla parameter as the ONNX graph's initializer of the same name holds it (float32, contiguous)."""
    if _kind(name) == "bn":
        value = value.reshape(-1)
    return np.ascontiguousarray(value, dtype=np.float32)


def nnabla_shape(name: str, onnx_dims: tuple[int, ...]) -> tuple[int, ...]:
    """The NNabla shape of the parameter an ONNX initializer of that name and shape holds."""
    if _kind(name) == "bn":
        if len(onnx_dims) != 1:
            raise WeightsError(f"BatchNorm initializer {name!r} has shape {onnx_dims}, expected (C,)")
        return (1, onnx_dims[0], 1, 1)
    return tuple(onnx_dims)
