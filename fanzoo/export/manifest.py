"""MANIFEST.json: what an exported folder holds, how it was made, and the tolerance its backends must meet."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import ArtifactError

MANIFEST = "MANIFEST.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ArtifactEntry:
    """One file of the folder: ``model.onnx``, ``model.nnp``, or a quantized ``model.int8.onnx``."""

    format: str
    file: str
    sha256: str
    opset: int | None
    batch: str  # "dynamic" or a fixed number
    max_relative_error: float  # measured against the NNabla reference at export time
    precision: str = "fp32"
    # the tolerance this file declares against the reference tensors; None: the manifest's (fp32) tolerance
    tolerance: float | None = None
    # int8: how it was made (calibration set, nodes kept in fp32) and its measured error against fp32
    quantization: dict[str, Any] | None = None


@dataclass(frozen=True)
class Manifest:
    model: str
    task: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    dynamic_axes: dict[str, dict[str, str]]
    tolerance: float
    weights_sha256: str
    fanzoo_version: str
    created: str
    artifacts: dict[str, ArtifactEntry] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None
    depth_model: dict[str, str] | None = None  # {"name": ..., "path": relative folder} for 3D models
    schema_version: int = SCHEMA_VERSION

    def entry(self, key: str) -> ArtifactEntry:
        """The artifact under ``key``: a format (fp32), or ``format-precision`` (fanzoo.precision.artifact_key)."""
        try:
            return self.artifacts[key]
        except KeyError:
            have = ", ".join(self.artifacts) or "nothing"
            fmt, _, precision = key.partition("-")
            how = f"--format {fmt}" + (f" --precision {precision}" if precision else "")
            raise ArtifactError(f"{self.model} has no {key} artifact (the folder holds {have}); "
                                f"run `fanzoo export {self.model} {how}`") from None

    def tolerance_of(self, key: str) -> float:
        """The tolerance an artifact declares against the reference tensors."""
        declared = self.entry(key).tolerance
        return self.tolerance if declared is None else declared

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, folder: Path) -> None:
        atomic_write_text(Path(folder) / MANIFEST, self.to_json())


def read_manifest(folder: Path | str) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST} in {folder}: not an exported fanzoo model folder "
                            "(make one with `fanzoo export`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ArtifactError(f"{path} has schema version {data.get('schema_version')}, "
                                f"this fanzoo reads {SCHEMA_VERSION}; export again")
        data["artifacts"] = {k: ArtifactEntry(**v) for k, v in data.get("artifacts", {}).items()}
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{path} is damaged: {exc}") from exc
