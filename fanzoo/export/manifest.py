"""MANIFEST.json: what an artifact folder holds, which weights it carries, and its contract (crop, decoding,
tolerance) that whatever runs it reads from here."""
from __future__ import annotations

import json
import re
import types
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from ..atomic import atomic_write_text
from ..errors import ArtifactError
from ..jsonparse import parse_json
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
    # fp32 ONNX: the exact rewrites applied to the converter's graph (export.graph_passes); None: made before
    # any were, by an older fanzoo
    graph_passes: list[str] | None = None


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


class StaleManifestError(ArtifactError):
    """A manifest written by a fanzoo with another schema version: not damage, just out of date."""


MAX_MANIFEST_BYTES = 1 << 20
SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # a sha256 digest as fanzoo writes it


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


def _check_path_text(text: str, where: str) -> None:
    """A name that becomes a path: the OS refuses NUL with an error of its own type, and a control character
    in a file name is never one fanzoo wrote."""
    if not text or any(ord(c) < 32 or c == "\x7f" for c in text):
        raise ValueError(f"{where} {text!r:.60} is not a usable file name")


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
        data = parse_json(path.read_text(encoding="utf-8"))
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
            if not SHA256_HEX.fullmatch(entry["sha256"]):
                raise ValueError(f"artifacts.{fmt}.sha256 is not 64 lowercase hex digits")
            _check_path_text(entry["file"], f"artifacts.{fmt}.file")
        if data["depth_model"] is not None:
            if "path" not in data["depth_model"]:
                raise ValueError("depth_model.path is missing")
            _check_path_text(data["depth_model"]["path"], "depth_model.path")
        data["artifacts"] = {k: ArtifactEntry(**v) for k, v in data["artifacts"].items()}
        return Manifest(**data)
    except ArtifactError:
        raise
    except OSError as exc:  # its own message would name the path again
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path} is damaged: not UTF-8 text ({exc.reason}); export the model again") from None
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{path} is damaged: {str(exc).splitlines()[0]}; export the model again") from None
