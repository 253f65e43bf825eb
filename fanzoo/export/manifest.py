"""MANIFEST.json: what an artifact folder holds, which weights it carries, and its contract (crop, decoding,
tolerance) that whatever runs it reads from here."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import ArtifactError
from ..registry import Preprocessing, TensorSpec

MANIFEST = "MANIFEST.json"
SCHEMA_VERSION = 2
BATCH_DIM = "N"  # the symbolic batch axis of dynamic-batch artifacts


def tensor_specs(specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    """Tensors as manifests and graph contracts record them (the batch axis as "N")."""
    return [{"name": t.name, "shape": [BATCH_DIM if d is None else d for d in t.shape], "dtype": t.dtype,
             "description": t.description} for t in specs]


@dataclass(frozen=True)
class ArtifactEntry:
    """One file of the folder: ``model.onnx``, ``model.nnp``, or a quantized ``model.int8.onnx``."""

    format: str
    file: str
    sha256: str
    opset: int | None
    batch: str  # "dynamic" or a fixed number
    # measured against the NNabla graph when NNabla exported it; None when the weights were bound into the
    # shipped graph without NNabla (the binding itself is checked against NNabla's outputs in CI)
    max_relative_error: float | None
    precision: str = "fp32"
    # the tolerance this file declares against the reference tensors; None: the manifest's (fp32) tolerance
    tolerance: float | None = None
    # int8: how it was made (calibration set, nodes kept in fp32) and its measured error against fp32
    quantization: dict[str, Any] | None = None


@dataclass(frozen=True)
class Manifest:
    model: str  # the architecture
    tag: str  # its weights: model.tag, e.g. 2dfan4.official
    task: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    dynamic_axes: dict[str, dict[str, str]]
    tolerance: float
    weights_sha256: str
    license: str  # of the weights
    made_by: str  # "nnabla-export" or "binding"
    fanzoo_version: str
    created: str
    artifacts: dict[str, ArtifactEntry] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None  # crop geometry (registry.Preprocessing)
    decoding: dict[str, Any] | None = None  # {"subpixel": rule} for a landmark model
    depth_model: dict[str, str] | None = None  # {"name", "tag", "path": relative folder} for 3D models
    graph_sha256: str | None = None  # of the shipped graph the weights were bound into (made_by "binding")
    schema_version: int = SCHEMA_VERSION

    @property
    def weights_name(self) -> str:
        return f"{self.model}.{self.tag}"

    def entry(self, key: str) -> ArtifactEntry:
        """The artifact under ``key``: a format (fp32), or ``format-precision`` (fanzoo.precision.artifact_key)."""
        try:
            return self.artifacts[key]
        except KeyError:
            have = ", ".join(self.artifacts) or "nothing"
            fmt, _, precision = key.partition("-")
            how = f"--format {fmt}" + (f" --precision {precision}" if precision else "")
            raise ArtifactError(f"{self.model} has no {key} artifact (the folder holds {have}); "
                                f"run `fanzoo export {self.weights_name} {how}`") from None

    def tolerance_of(self, key: str) -> float:
        """The tolerance an artifact declares against the reference tensors."""
        declared = self.entry(key).tolerance
        return self.tolerance if declared is None else declared

    def crop(self) -> Preprocessing | None:
        """The crop geometry this artifact was made for."""
        if self.preprocessing is None:
            return None
        values = dict(self.preprocessing)
        if "pixel_range" in values:
            values["pixel_range"] = tuple(values["pixel_range"])
        try:
            return Preprocessing(**values)
        except TypeError as exc:
            raise ArtifactError(f"the manifest of {self.weights_name} has an unknown preprocessing field: {exc}") \
                from None

    @property
    def subpixel(self) -> str | None:
        return (self.decoding or {}).get("subpixel")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def write(self, folder: Path) -> None:
        atomic_write_text(Path(folder) / MANIFEST, self.to_json())


def read_manifest(folder: Path | str) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST} in {folder}: not an exported fanzoo model folder "
                            "(make one with `fanzoo export`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ArtifactError(f"{path} has schema version {data.get('schema_version')}, "
                                f"this fanzoo reads {SCHEMA_VERSION}; export again")
        known = {f.name for f in fields(Manifest)}
        if set(data) - known:
            raise ValueError(f"unknown fields {sorted(set(data) - known)}")
        data["artifacts"] = {k: ArtifactEntry(**v) for k, v in data.get("artifacts", {}).items()}
        return Manifest(**data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"{path} is damaged: {exc}") from exc
