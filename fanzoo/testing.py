"""Conformance suite for backend plugins: subclass BackendConformance in your plugin's tests.

    from fanzoo.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "mybackend"

The suite loads exported artifacts (the folder in $FANZOO_TEST_ARTIFACTS, or ones it makes itself with
seeded weights: ONNX on any Python, NNP where NNabla is installed) and checks them against their stored
reference tensors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .errors import ArtifactError, BackendUnavailableError, InputError
from .export.manifest import read_manifest
from .export.reference import read_test_data_set, relative_error, test_data_sets

ARTIFACTS_ENV = "FANZOO_TEST_ARTIFACTS"
DEFAULT_MODELS = ("2dfan1",)


def export_test_artifacts(folder: Path, models: tuple[str, ...] = DEFAULT_MODELS,
                          formats: tuple[str, ...] = ("onnx", "nnp")) -> Path:
    """Export ``models`` with seeded random weights into ``folder`` (ONNX anywhere; NNP needs NNabla)."""
    from .export.exporter import export

    for model in models:
        for fmt in formats:
            if not (folder / model / ("model." + fmt)).is_file():
                export(model, fmt, folder, random_seed=7)
    return folder


def quantize_test_artifact(model: str, folder: Path, dest: Path) -> Path:
    """int8 copy of a test artifact, calibrated on its own reference faces (needs onnxruntime's quantizer)."""
    from .export.calibration import calibration_from_inputs
    from .export.quantize import quantize_folder
    from .plugins import get_model

    pytest.importorskip("onnxruntime.quantization", reason="quantizing needs onnxruntime")
    inputs, _ = read_test_data_set(test_data_sets(folder)[0])
    quantize_folder(get_model(model), folder, dest,
                    calibration=calibration_from_inputs(next(iter(inputs.values())), f"{folder}/test_data_set_0"))
    return dest


class BackendConformance:
    """Every backend passes these unchanged. Set ``backend_name``; override ``models`` if needed."""

    backend_name: str = ""
    models: tuple[str, ...] = DEFAULT_MODELS

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls) -> Any:
        from .plugins import plugins

        return plugins().backend(cls.backend_name)

    @pytest.fixture(scope="class")
    @classmethod
    def artifacts(cls, tmp_path_factory: pytest.TempPathFactory, backend: Any) -> Path:
        given = os.environ.get(ARTIFACTS_ENV)
        if given:
            return Path(given)
        return export_test_artifacts(tmp_path_factory.mktemp("artifacts"), cls.models, (backend.artifact_format,))

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, backend: Any, artifacts: Path) -> list[tuple[Any, Path, Any]]:
        out = []
        for model in cls.models:
            folder = artifacts / model
            manifest = read_manifest(folder)
            entry = manifest.entry(backend.artifact_format)
            out.append((manifest, folder, backend.load(folder / entry.file, device="cpu")))
        return out

    # -- numerics -----------------------------------------------------------------------------------
    def test_matches_reference_tensors(self, loaded: list) -> None:
        for manifest, folder, session in loaded:
            sets = test_data_sets(folder)
            assert sets, f"{folder} has no test_data_set_*"
            for data_set in sets:
                inputs, outputs = read_test_data_set(data_set)
                got = session.run(inputs)
                for name, expected in outputs.items():
                    error = relative_error(got[name], expected)
                    assert error <= manifest.tolerance, f"{manifest.model} {name}: {error:.2e} > {manifest.tolerance}"

    def test_batch_equals_single_runs(self, loaded: list) -> None:
        for manifest, folder, session in loaded:
            inputs, _ = read_test_data_set(test_data_sets(folder)[0])
            name, batch = next(iter(inputs.items()))
            batch = np.concatenate([batch, batch[::-1]])  # N = 2 * stored faces
            together = session.run({name: batch})
            for i in range(len(batch)):
                single = session.run({name: batch[i:i + 1]})
                for out in together:
                    assert relative_error(single[out][0], together[out][i]) <= manifest.tolerance

    def test_deterministic_and_float32(self, loaded: list) -> None:
        for _, folder, session in loaded:
            inputs, _ = read_test_data_set(test_data_sets(folder)[0])
            first, second = session.run(inputs), session.run(inputs)
            assert set(first) == set(session.output_names)
            for name in first:
                assert first[name].dtype == np.float32
                np.testing.assert_array_equal(first[name], second[name])

    # -- int8 ------------------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def int8_loaded(cls, backend: Any, artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
        """The int8 artifact of each model: the folder's own, else quantized here (calibrated on the folder's
        reference faces, which is enough to check that a backend runs int8 within its declared tolerance)."""
        from .precision import artifact_key, backend_precisions

        if "int8" not in backend_precisions(backend):
            pytest.skip(f"{backend.name} does not declare int8 in its precisions")
        from .plugins import get_model

        key = artifact_key(backend.artifact_format, "int8")
        out = []
        for model in cls.models:
            if not get_model(model).int8:  # the registry says its int8 misses the tolerance: nothing to hold it to
                continue
            folder = artifacts / model
            if key not in read_manifest(folder).artifacts:
                folder = quantize_test_artifact(model, folder, tmp_path_factory.mktemp(f"{model}-int8") / model)
            manifest = read_manifest(folder)
            out.append((manifest, folder, backend.load(folder / manifest.entry(key).file, device="cpu"), key))
        if not out:
            pytest.skip(f"none of {cls.models} has an int8 version")
        return out

    def test_int8_within_declared_tolerance(self, int8_loaded: list) -> None:
        for manifest, folder, session, key in int8_loaded:
            tolerance = manifest.tolerance_of(key)
            for data_set in test_data_sets(folder):
                inputs, outputs = read_test_data_set(data_set)
                got = session.run(inputs)
                for name, expected in outputs.items():
                    error = relative_error(got[name], expected)
                    assert error <= tolerance, f"{manifest.model} int8 {name}: {error:.3f} > declared {tolerance}"
            name, batch = next(iter(inputs.items()))
            together = session.run({name: batch})
            for i in range(len(batch)):  # static scales: a face's result must not depend on its batch
                single = session.run({name: batch[i:i + 1]})
                for out in together:
                    assert relative_error(single[out][0], together[out][i]) <= tolerance, (manifest.model, out, i)

    # -- error contract -------------------------------------------------------------------------------
    def test_missing_file(self, backend: Any, tmp_path: Path) -> None:
        with pytest.raises(ArtifactError):
            backend.load(tmp_path / f"missing.{backend.artifact_format}")

    def test_wrong_format(self, backend: Any, tmp_path: Path) -> None:
        other = tmp_path / "model.txt"
        other.write_text("not a model")
        with pytest.raises(ArtifactError):
            backend.load(other)
        damaged = tmp_path / f"damaged.{backend.artifact_format}"
        damaged.write_bytes(b"\x00garbage" * 100)
        with pytest.raises(ArtifactError):
            backend.load(damaged)

    def test_wrong_input_shape_and_dtype(self, loaded: list) -> None:
        for _, folder, session in loaded:
            inputs, _ = read_test_data_set(test_data_sets(folder)[0])
            name, batch = next(iter(inputs.items()))
            with pytest.raises(InputError):
                session.run({name: batch[:, :, :-1]})
            with pytest.raises(InputError):
                session.run({name: batch.astype(np.float64)})
            with pytest.raises(InputError):
                session.run({"not_" + name: batch})

    def test_unavailable_device_is_an_error(self, backend: Any, loaded: list) -> None:
        _, folder, _ = loaded[0]
        artifact = folder / read_manifest(folder).entry(backend.artifact_format).file
        with pytest.raises(BackendUnavailableError):
            backend.load(artifact, device="no-such-device")
        cuda = {d.device: d for d in backend.devices()}.get("cuda")
        if cuda is not None and not cuda.available:
            with pytest.raises(BackendUnavailableError):
                backend.load(artifact, device="cuda")
