"""Find or make the artifact a backend needs: an explicit folder, the package's own, or an export into the cache.

An artifact whose source weights changed since it was exported is rebuilt; one made from other weights
than the cache's is never used silently. A model with bundled weights also ships their ONNX export
(``fanzoo/bundled/<model>/``), so the default model runs where NNabla cannot be installed (Python 3.11+).
"""
from __future__ import annotations

import logging
from pathlib import Path

from .errors import ArtifactError
from .export.manifest import MANIFEST, Manifest, StaleManifestError, read_manifest
from .export.verify import artifact_path, known_sha256, verify_artifact
from .precision import artifact_key
from .registry import ModelSpec
from .weights.store import bundled_weights, home, local_weights

log = logging.getLogger(__name__)


def artifacts_cache() -> Path:
    return home() / "artifacts"


def _weights_fingerprint(spec: ModelSpec) -> str | None:
    path = local_weights(spec)
    return known_sha256(path) if path is not None else None  # hashed once per change of the file


def bundled_artifacts(spec: ModelSpec) -> Path | None:
    """The export folder that ships beside a model's bundled weights (same name, no suffix)."""
    weights = bundled_weights(spec)
    return weights.with_suffix("") if weights is not None else None


def _usable(folder: Path, fmt: str, fingerprint: str | None) -> Manifest | None:
    """The folder's manifest if it holds a ``fmt`` artifact made from ``fingerprint`` (any weights when None);
    None when there is none or it is out of date. A damaged manifest is an error, never skipped silently."""
    if not (folder / MANIFEST).is_file():
        return None
    try:
        manifest = read_manifest(folder)
    except StaleManifestError:
        return None
    if fmt not in manifest.artifacts or not artifact_path(folder, manifest.entry(fmt)).is_file():
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
        return verify_artifact(Path(folder) / spec.name, manifest.entry(fmt))
    fingerprint = _weights_fingerprint(spec)
    shipped = bundled_artifacts(spec)
    if shipped is not None and fingerprint is not None:
        # only when the weights in use are the very ones it was exported from (a user's import wins)
        manifest = _usable(shipped, fmt, fingerprint)
        if manifest is not None:
            return verify_artifact(shipped, manifest.entry(fmt))  # a damaged install: say so, never load it
    cached = artifacts_cache() / spec.name
    manifest = _usable(cached, fmt, fingerprint)
    if manifest is not None:
        return verify_artifact(cached, manifest.entry(fmt))
    if fingerprint is None and (cached / MANIFEST).is_file():
        manifest = _usable(cached, fmt, None)
        if manifest is not None:  # exported earlier, weights since removed: still a real, checked artifact
            return verify_artifact(cached, manifest.entry(fmt))
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
    return verify_artifact(cached, read_manifest(cached).entry(fmt))


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
        return verify_artifact(Path(folder) / spec.name, manifest.entry(key))
    cached = artifacts_cache() / spec.name
    manifest = _usable(cached, key, _weights_fingerprint(spec))
    if manifest is not None:
        return verify_artifact(cached, manifest.entry(key))
    if not auto_export:
        raise ArtifactError(f"{spec.name} has no {precision} artifact; run "
                            f"`fanzoo export {spec.name} --format {fmt} --precision {precision}`")
    fp32 = resolve_artifact(spec, fmt, None, auto_export, announce)
    from .export.quantize import quantize_folder

    announce(f"quantizing {spec.name} to {precision} once, into {cached} (calibration takes a minute or more)")
    made = quantize_folder(spec, fp32.parent, cached)
    return verify_artifact(cached, made.entry(key))
