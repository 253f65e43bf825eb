"""Find or make the artifact a backend needs: an explicit folder, the package's own, or an export into the cache.

An artifact whose source weights changed since it was exported is rebuilt; one made from other weights
than the cache's is never used silently. A model with bundled weights also ships their ONNX export
(``fanzoo/bundled/<model>/``), so the default model runs where NNabla cannot be installed (Python 3.11+).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .errors import ArtifactError, FanzooError
from .export.manifest import Manifest, read_manifest
from .precision import artifact_key
from .registry import ModelSpec
from .weights.store import bundled_weights, home, local_weights, sha256_file

log = logging.getLogger(__name__)


def artifacts_cache() -> Path:
    return home() / "artifacts"


def _weights_fingerprint(spec: ModelSpec) -> str | None:
    path = local_weights(spec)
    return sha256_file(path) if path is not None else None


def bundled_artifacts(spec: ModelSpec) -> Path | None:
    """The export folder that ships beside a model's bundled weights (same name, no suffix)."""
    weights = bundled_weights(spec)
    return weights.with_suffix("") if weights is not None else None


def _usable(folder: Path, fmt: str, fingerprint: str | None) -> Manifest | None:
    try:
        manifest = read_manifest(folder)
        entry = manifest.entry(fmt)
    except FanzooError:
        return None
    if not (folder / entry.file).is_file():
        return None
    if fingerprint is not None and manifest.weights_sha256 != fingerprint:
        return None
    return manifest


def resolve_artifact(spec: ModelSpec, fmt: str, folder: Path | None = None, auto_export: bool = True,
                     announce=log.warning, precision: str = "fp32") -> Path:
    """Path of ``<folder>/<model>/model.<fmt>`` (or of its int8 copy, for ``precision="int8"``).

    With ``folder`` given, it must already hold the artifact (any weights: the user chose it). Otherwise
    the package's or the cache's export is used if it was made from the current weights, else it is
    exported now, into the cache.
    """
    if artifact_key(fmt, precision) != fmt:
        return _resolve_quantized(spec, fmt, folder, auto_export, announce, precision)
    if folder is not None:
        manifest = _usable(Path(folder) / spec.name, fmt, None)
        if manifest is None:
            raise ArtifactError(f"no {fmt} artifact of {spec.name} in {folder}; run "
                                f"`fanzoo export {spec.name} --format {fmt} --out {folder}`")
        return Path(folder) / spec.name / manifest.entry(fmt).file
    fingerprint = _weights_fingerprint(spec)
    shipped = bundled_artifacts(spec)
    if shipped is not None and fingerprint is not None:
        # only when the weights in use are the very ones it was exported from (a user's import wins)
        manifest = _usable(shipped, fmt, fingerprint)
        if manifest is not None:
            path = shipped / manifest.entry(fmt).file
            if sha256_file(path) != manifest.entry(fmt).sha256:  # a damaged install: say so, never load it
                raise ArtifactError(f"{path} does not match the sha256 in its manifest; reinstall fanzoo")
            return path
    cached = artifacts_cache() / spec.name
    manifest = _usable(cached, fmt, fingerprint)
    if manifest is not None:
        return cached / manifest.entry(fmt).file
    if fingerprint is None and (cached / "MANIFEST.json").is_file():
        manifest = _usable(cached, fmt, None)
        if manifest is not None:  # exported earlier, weights since removed: still a real, checked artifact
            return cached / manifest.entry(fmt).file
    if not auto_export:
        raise ArtifactError(f"{spec.name} has not been exported to {fmt}; run `fanzoo export {spec.name} --format {fmt}`")
    from .weights.store import resolve_weights

    resolve_weights(spec)  # a clear error about missing weights before any NNabla work
    try:
        import nnabla  # noqa: F401

        from .export.exporter import export_model
    except ImportError as exc:
        raise ArtifactError(f"{spec.name} has no {fmt} artifact and exporting one needs NNabla (Python 3.10); "
                            f"export it on such a machine and pass --artifacts DIR ({exc})") from exc
    announce(f"exporting {spec.name} to {fmt} once, into {cached} (this takes a while)")
    export_model(spec, fmt, cached)
    return cached / read_manifest(cached).entry(fmt).file


def _resolve_quantized(spec: ModelSpec, fmt: str, folder: Path | None, auto_export: bool, announce,
                       precision: str) -> Path:
    """The int8 artifact: in ``folder`` if given, else in the cache, else quantized now from the fp32 one."""
    key = artifact_key(fmt, precision)
    if fmt != "onnx":
        raise ArtifactError(f"{precision} artifacts are ONNX files; this backend loads {fmt}")
    if folder is not None:
        manifest = _usable(Path(folder) / spec.name, key, None)
        if manifest is None:
            raise ArtifactError(f"no {precision} artifact of {spec.name} in {folder}; run `fanzoo export {spec.name} "
                                f"--format {fmt} --precision {precision} --out {folder}`")
        return Path(folder) / spec.name / manifest.entry(key).file
    cached = artifacts_cache() / spec.name
    manifest = _usable(cached, key, _weights_fingerprint(spec))
    if manifest is not None:
        return cached / manifest.entry(key).file
    if not auto_export:
        raise ArtifactError(f"{spec.name} has no {precision} artifact; run "
                            f"`fanzoo export {spec.name} --format {fmt} --precision {precision}`")
    fp32 = resolve_artifact(spec, fmt, None, auto_export, announce)
    from .export.quantize import quantize_folder

    announce(f"quantizing {spec.name} to {precision} once, into {cached} (calibration takes a minute or more)")
    made = quantize_folder(spec, fp32.parent, cached)
    return cached / made.entry(key).file
