"""Conformance suite for backend plugins: subclass BackendConformance in your plugin's tests, unchanged.

    from fanzoo.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        backend_name = "mybackend"

It checks everything the core relies on (docs/plugins.md, "The backend contract"): attributes, devices,
the ``load(artifact, device, threads)`` signature, that registering imports no runtime, the errors, and the
numbers: every shipped coverage model (together, every operator of every registered architecture) and every
shipped export, against their reference tensors, at several batch sizes in both orders. It needs no NNabla.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..backend import contract_problems, load_session
from ..errors import ArtifactError, BackendUnavailableError, FanzooError, InputError
from ..export.manifest import read_manifest
from ..export.reference import read_test_data_set, test_data_sets
from ..plugin_records import PluginRecord
from ..plugins import Plugins, make_plugin_manager, use_plugins
from ..weights.store import sha256_file
from . import checks
from .artifacts import ARTIFACTS_ENV, Case, collect_cases, quantize_test_artifact, requested_folders
from .coverage import coverage_models


def _spec_of(case: Case) -> Any:
    """The model spec behind a case: a coverage model's own, else the registry's (None when not registered)."""
    from ..plugins import plugins

    own = {m.name: m.spec for m in coverage_models()}
    if case.name in own:
        return own[case.name]
    return plugins().models.get(case.name) if case.name in plugins().models else None


def _fail(messages: list[str]) -> None:
    if messages:
        pytest.fail("\n".join(messages), pytrace=False)


def _one_line_error(excinfo: pytest.ExceptionInfo) -> list[str]:
    text = str(excinfo.value)
    return [] if text.strip() and "\n" not in text.strip() else [
        f"{excinfo.type.__name__} must carry a one-line message for the CLI, got {text!r}"]


class BackendConformance:
    """Every backend passes these unchanged. Set ``backend_name``.

    ``plugin``: a module to register besides the installed entry points (a backend under development, or
    the suite's own tests). ``artifact_folders``: more export folders to check, beside the shipped ones.
    """

    backend_name: str = ""
    plugin: str | None = None
    artifact_folders: tuple[Path, ...] = ()

    # -- fixtures -----------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def suite_plugins(cls) -> Iterator[Plugins]:
        pm = make_plugin_manager()
        if cls.plugin is not None:
            module = importlib.import_module(cls.plugin)
            if not any(r.plugin is module for r in pm.records):
                pm.add(module, PluginRecord(cls.plugin))
        with use_plugins(Plugins.collect(pm)) as found:
            yield found

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, suite_plugins: Plugins) -> Any:
        if cls.backend_name in suite_plugins.backends:
            return suite_plugins.backends[cls.backend_name]
        rejected = suite_plugins.rejected.get(("backend", cls.backend_name))
        if rejected is not None:  # left out at registration: still check it, so each test says what is wrong
            return rejected[0]
        suite_plugins.backend(cls.backend_name)  # raises the reason: unknown, or a name two plugins claim
        raise AssertionError("unreachable")

    @pytest.fixture(scope="class")
    @classmethod
    def cases(cls, backend: Any) -> list[Case]:
        return collect_cases(backend.artifact_format, tuple(Path(p) for p in cls.artifact_folders))

    @pytest.fixture(scope="class")
    @classmethod
    def sessions(cls, backend: Any, cases: list[Case]) -> list[tuple[Case, Any]]:
        return [(case, load_session(backend, case.artifact, "cpu", None)) for case in cases]

    # -- the contract: attributes, devices, signatures, registration ----------------------------------
    def test_registers_cleanly(self, suite_plugins: Plugins, backend: Any) -> None:
        record = suite_plugins.provider("backend", self.backend_name)
        problems = [f"{record.label}: {p}" for p in record.problems] if record is not None else []
        assert record is not None and not problems, "\n".join(problems) or "no plugin provides the backend"

    def test_attributes(self, backend: Any) -> None:
        _fail(checks.attribute_problems(backend, self.backend_name) + contract_problems(backend))

    def test_version_and_devices(self, backend: Any) -> None:
        version = backend.version()
        assert isinstance(version, str) and version, f"version() must name the installed runtime, got {version!r}"
        _fail(checks.device_problems(backend.devices()))

    def test_registering_imports_no_runtime(self, suite_plugins: Plugins) -> None:
        record = suite_plugins.provider("backend", self.backend_name)
        module = getattr(record.plugin, "__name__", None) if record is not None else None
        assert isinstance(module, str), "the backend must be registered by a plugin module (an entry point)"
        imported, names = checks.registration_imports(module)
        assert self.backend_name in names, f"{module} did not register {self.backend_name!r} in a fresh interpreter"
        assert not imported, (f"importing and registering {module} imported {', '.join(imported)}: a plugin may "
                              "import fanzoo, numpy and the standard library; import the runtime inside load()")

    # -- the numbers -------------------------------------------------------------------------------------
    def test_artifacts_cover_every_architecture(self, suite_plugins: Plugins, cases: list[Case]) -> None:
        names = {case.name for case in cases}
        missing = [m.name for m in coverage_models() if m.name not in names]
        assert not missing, f"the shipped coverage artifacts of {missing} are missing: reinstall fanzoo"
        covered = {m.covers for m in coverage_models()}
        builtin = [r for r in suite_plugins.records if r.builtin]
        uncovered = sorted({spec.builder for spec in suite_plugins.models
                            if spec.builder not in covered and suite_plugins.provider("model", spec.name) in builtin})
        assert not uncovered, f"fanzoo's architectures {uncovered} have no coverage model (fanzoo/testing/coverage.py)"
        for case in cases:
            listed = next(e for e in case.manifest.artifacts.values() if e.file == case.artifact.name)
            assert sha256_file(case.artifact) == listed.sha256, f"{case.artifact} does not match its MANIFEST sha256"

    def test_requested_artifacts_exist(self, backend: Any, cases: list[Case]) -> None:
        requested = requested_folders()
        if requested is None:
            return
        tested = {case.folder.resolve() for case in cases}
        assert any(folder.resolve() in tested for folder in requested), (
            f"${ARTIFACTS_ENV} names {len(requested)} model folder(s) ({', '.join(f.name for f in requested)}) but "
            f"none holds a {backend.artifact_format} artifact, which {self.backend_name} loads")

    def test_matches_reference_tensors(self, sessions: list[tuple[Case, Any]]) -> None:
        messages = []
        for case, session in sessions:
            for data_set in test_data_sets(case.folder):
                inputs, outputs = read_test_data_set(data_set)
                messages += checks.compare(case, outputs, session.run(inputs), f"{data_set.name}, stored batch")
        _fail(messages)

    def test_batch_sizes_in_both_orders(self, backend: Any, cases: list[Case]) -> None:
        messages = []
        for case in cases:
            inputs, outputs = read_test_data_set(test_data_sets(case.folder)[0])
            (feed, batch), = inputs.items()
            for order_name, order in checks.batch_orders(len(batch)).items():
                session = load_session(backend, case.artifact, "cpu", None)  # fresh: no state from other tests
                for step, size in enumerate(order):
                    picked = checks.rows(size, len(batch))
                    got = session.run({feed: batch[picked]})
                    after = f", after batch {order[step - 1]}" if step else ""
                    context = f"batch {size} (run {step + 1} of {order}, {order_name}{after})"
                    messages += checks.compare(case, {k: v[picked] for k, v in outputs.items()}, got, context)
        _fail(messages)

    def test_threads_option(self, backend: Any, cases: list[Case]) -> None:
        messages = []
        for case in cases:
            inputs, outputs = read_test_data_set(test_data_sets(case.folder)[0])
            session = load_session(backend, case.artifact, "cpu", 1)
            messages += checks.compare(case, outputs, session.run(inputs), "threads=1")
        _fail(messages)

    def test_session_names_and_fresh_float32_outputs(self, sessions: list[tuple[Case, Any]]) -> None:
        for case, session in sessions:
            inputs, _ = read_test_data_set(test_data_sets(case.folder)[0])
            (feed, batch), = inputs.items()
            names = (tuple(t["name"] for t in case.manifest.inputs), tuple(t["name"] for t in case.manifest.outputs))
            assert (session.input_names, session.output_names) == names, \
                f"{case.name}: session names {session.input_names}, {session.output_names}; the manifest says {names}"
            first = session.run(inputs)
            kept = {k: np.array(v, copy=True) for k, v in first.items()}
            assert list(first) == list(session.output_names), f"{case.name}: run() returned {list(first)}"
            for name, array in first.items():
                assert isinstance(array, np.ndarray) and array.dtype == np.float32, \
                    f"{case.name} output {name!r}: {getattr(array, 'dtype', type(array))}, expected float32"
            again = session.run(inputs)
            session.run({feed: np.ascontiguousarray(batch[::-1] * 0.5)})  # must not write into earlier results
            for name in first:
                np.testing.assert_array_equal(again[name], kept[name], err_msg=f"{case.name} {name}: not deterministic")
                np.testing.assert_array_equal(first[name], kept[name], err_msg=(
                    f"{case.name} {name}: a later run changed an earlier result (return copies, not runtime buffers)"))

    # -- int8 -------------------------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def int8_cases(cls, backend: Any, cases: list[Case], tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
        """Each case's int8 artifact: the folder's own, else quantized here, calibrated on the folder's reference
        faces (enough to check that a backend runs int8 within the tolerance the artifact declares)."""
        from ..precision import artifact_key, backend_precisions

        if "int8" not in backend_precisions(backend):
            pytest.skip(f"{backend.name} does not declare int8 in its precisions")
        key = artifact_key(backend.artifact_format, "int8")
        out = []
        for case in cases:
            spec = _spec_of(case)
            if spec is None or not getattr(spec, "int8", True):  # int8 measured past its tolerance: not held to it
                continue
            folder = case.folder
            if key not in case.manifest.artifacts:
                folder = quantize_test_artifact(spec, folder, tmp_path_factory.mktemp(f"{case.name}-int8") / case.name)
            manifest = read_manifest(folder)
            out.append(Case(folder, manifest, folder / manifest.entry(key).file, case.source + ", int8"))
        assert out, "no case has an int8 version to check"
        return out

    def test_int8_within_declared_tolerance(self, backend: Any, int8_cases: list[Case]) -> None:
        from ..precision import artifact_key

        key = artifact_key(backend.artifact_format, "int8")
        messages = []
        for case in int8_cases:
            held = Case(case.folder, replace(case.manifest, tolerance=case.manifest.tolerance_of(key)), case.artifact,
                        case.source)
            inputs, outputs = read_test_data_set(test_data_sets(case.folder)[0])
            (feed, batch), = inputs.items()
            session = load_session(backend, case.artifact, "cpu", None, precision="int8")
            messages += checks.compare(held, outputs, session.run(inputs), "int8, stored batch")
            for step, size in enumerate(checks.batch_orders(len(batch))["large first"]):
                picked = checks.rows(size, len(batch))  # static scales: a face's result must not depend on its batch
                got = session.run({feed: batch[picked]})
                messages += checks.compare(held, {k: v[picked] for k, v in outputs.items()}, got,
                                           f"int8, batch {size} (run {step + 1})")
        _fail(messages)

    # -- the errors ----------------------------------------------------------------------------------------
    def test_missing_and_foreign_files(self, backend: Any, tmp_path: Path) -> None:
        messages: list[str] = []
        other = tmp_path / "model.txt"
        other.write_text("not a model")
        damaged = tmp_path / f"damaged.{backend.artifact_format}"
        damaged.write_bytes(b"\x00garbage" * 100)
        for path in (tmp_path / f"missing.{backend.artifact_format}", other, damaged):
            with pytest.raises(ArtifactError) as excinfo:
                load_session(backend, path, "cpu", None)
            messages += _one_line_error(excinfo)
        _fail(messages)

    def test_bad_inputs(self, sessions: list[tuple[Case, Any]]) -> None:
        case, session = sessions[0]
        inputs, _ = read_test_data_set(test_data_sets(case.folder)[0])
        (name, batch), = inputs.items()
        for bad in ({name: batch[:, :, :-1]}, {name: batch.astype(np.float64)}, {"not_" + name: batch},
                    {name: batch[:0]}, {name: batch.tolist()}):
            with pytest.raises(InputError) as excinfo:
                session.run(bad)
            _fail(_one_line_error(excinfo))

    def test_unavailable_devices_and_precisions(self, backend: Any, cases: list[Case]) -> None:
        artifact = cases[0].artifact
        with pytest.raises(BackendUnavailableError):
            load_session(backend, artifact, "no-such-device", None)
        from ..precision import PRECISIONS, backend_precisions

        missing = [p for p in PRECISIONS if p not in backend_precisions(backend)]
        if missing:  # a precision it does not run is an error, never a silent run at another
            with pytest.raises(BackendUnavailableError):
                load_session(backend, artifact, "cpu", None, precision=missing[0])
        for device in backend.devices():
            if not device.available:
                with pytest.raises(BackendUnavailableError) as excinfo:
                    load_session(backend, artifact, device.device, None)
                assert isinstance(excinfo.value, FanzooError)
                _fail(_one_line_error(excinfo))
