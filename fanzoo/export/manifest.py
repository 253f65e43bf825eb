"""MANIFEST.json: what an exported folder holds, how it was made, and the tolerance its backends must meet."""
from __future__ import annotations

import json
import re
import types
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

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


class StaleManifestError(ArtifactError):
    """A manifest written by a fanzoo with another schema version: not damage, just out of date."""


MAX_MANIFEST_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _describe(hint: Any) -> str:
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(hint))
    if get_origin(hint) in (list, dict):
        return {list: "a list", dict: "an object"}[get_origin(hint)]  # type: ignore[index]
    return {str: "text", int: "an integer", float: "a number", type(None): "null"}.get(hint, "an object")


def _check(value: Any, hint: Any, where: str) -> None:
    """Raise ValueError naming ``where`` unless the JSON ``value`` has the annotated type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _check(value, option, where)
            except ValueError:
                pass
    elif origin is list:
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check(item, args[0], f"{where}[{i}]")
            return
    elif origin is dict:
        if isinstance(value, dict):
            for key, item in value.items():
                _check(item, args[1], f"{where}.{key}")
            return
    elif is_dataclass(hint):
        if isinstance(value, dict):
            return _check_fields(value, hint, where)
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return
    elif hint is type(None):
        if value is None:
            return
    elif isinstance(value, hint):
        return
    raise ValueError(f"{where} should be {_describe(hint)}, not {json.dumps(value)[:40]}")


def _check_fields(data: dict[str, Any], cls: type, where: str) -> None:
    hints = get_type_hints(cls)
    for f in fields(cls):
        if f.name in data:
            _check(data[f.name], hints[f.name], f"{where}.{f.name}" if where else f.name)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ValueError(f"{where + '.' if where else ''}{f.name} is missing")
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown field {(where + '.' if where else '') + unknown[0]!r} (written by another fanzoo?)")


def read_manifest(folder: Path | str) -> Manifest:
    """The folder's manifest, its schema checked field by field; :class:`ArtifactError` in one line otherwise
    (:class:`StaleManifestError` when it is merely from another schema version)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST} in {folder}: not an exported fanzoo model folder "
                            "(make one with `fanzoo export`)")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError(f"it is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"it holds {_describe(type(data)) if data is not None else 'null'}, not an object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION and isinstance(version, int) and not isinstance(version, bool):
            raise StaleManifestError(f"{path} has schema version {data.get('schema_version')!r:.20}, "
                                     f"this fanzoo reads {SCHEMA_VERSION}; export again")
        if version != SCHEMA_VERSION:
            raise ValueError("schema_version is missing or not an integer")
        _check_fields(data, Manifest, "")
        for fmt, entry in data["artifacts"].items():
            # keys are the format, or format-precision for another precision's file (fanzoo.precision.artifact_key)
            if fmt != entry["format"] and not fmt.startswith(f"{entry['format']}-"):
                raise ValueError(f"artifacts.{fmt} says its format is {entry['format']!r}")
            if not _SHA256.fullmatch(entry["sha256"]):
                raise ValueError(f"artifacts.{fmt}.sha256 is not 64 lowercase hex digits")
        data["artifacts"] = {k: ArtifactEntry(**v) for k, v in data["artifacts"].items()}
        return Manifest(**data)
    except ArtifactError:
        raise
    except OSError as exc:  # its own message would name the path again
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path} is damaged: not UTF-8 text ({exc.reason}); export the model again") from None
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: JSON nested beyond the parser's depth
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise ArtifactError(f"{path} is damaged: {reason}; export the model again") from None
