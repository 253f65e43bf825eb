"""Which exported folders the conformance suite runs a backend on, where they come from, and how tests make more.

Always: the shipped coverage models (every operator of every registered architecture) and the exports that
ship with the package (the bundled model's). Also, when ``$FANZOO_TEST_ARTIFACTS`` is set, every model
folder in it (a `fanzoo export --out` folder, or one model's folder). None of this needs NNabla.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, FanzooError
from ..export.manifest import MANIFEST, Manifest, read_manifest
from ..export.reference import read_test_data_set, test_data_sets
from .coverage import coverage_folders

ARTIFACTS_ENV = "FANZOO_TEST_ARTIFACTS"


@dataclass(frozen=True)
class Case:
    """One model folder, the artifact in it that the backend loads, and where the folder came from."""

    folder: Path
    manifest: Manifest
    artifact: Path
    source: str

    @property
    def name(self) -> str:
        return self.manifest.model


def model_folders(root: Path) -> list[Path]:
    """``root`` when it is one model's folder, else the model folders directly inside it."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return [root]
    if not root.is_dir():
        raise ArtifactError(f"{root} is not a folder")
    return sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())


BUNDLED_DIR = Path(__file__).resolve().parents[1] / "bundled"


def shipped_folders() -> list[Path]:
    """The coverage models, then the exports shipped beside bundled weights (fanzoo/bundled/<model>/)."""
    return [*coverage_folders(), *model_folders(BUNDLED_DIR)]


def requested_folders() -> list[Path] | None:
    """The model folders in ``$FANZOO_TEST_ARTIFACTS``, or None when it is not set."""
    given = os.environ.get(ARTIFACTS_ENV)
    return None if not given else model_folders(Path(given))


def collect_cases(fmt: str, extra: tuple[Path, ...] = ()) -> list[Case]:
    """Every folder with an artifact of ``fmt``: shipped ones, ``extra`` folders and requested ones, once each."""
    sources = [(p, "shipped with fanzoo") for p in shipped_folders()]
    sources += [(p, "given by the test class") for root in extra for p in model_folders(root)]
    sources += [(p, f"${ARTIFACTS_ENV}") for p in requested_folders() or []]
    cases, seen = [], set()
    for folder, source in sources:
        if folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        manifest = read_manifest(folder)
        try:
            entry = manifest.entry(fmt)
        except FanzooError:
            continue  # the folder holds other formats only; test_requested_artifacts_exist says so if it matters
        cases.append(Case(folder, manifest, folder / entry.file, source))
    return cases


DEFAULT_MODELS = ("2dfan1",)


def export_test_artifacts(folder: Path, models: tuple[str, ...] = DEFAULT_MODELS,
                          formats: tuple[str, ...] = ("onnx", "nnp")) -> Path:
    """Export ``models`` with seeded random weights into ``folder`` (needs NNabla)."""
    from ..export.exporter import export

    for model in models:
        for fmt in formats:
            if not (folder / model / ("model." + fmt)).is_file():
                export(model, fmt, folder, random_seed=7)
    return folder


def quantize_test_artifact(spec: Any, folder: Path, dest: Path) -> Path:
    """int8 copy of a test artifact, calibrated on its own reference faces (needs onnxruntime's quantizer)."""
    import pytest

    from ..export.calibration import calibration_from_inputs
    from ..export.quantize import quantize_folder

    pytest.importorskip("onnxruntime.quantization", reason="quantizing needs onnxruntime")
    inputs, _ = read_test_data_set(test_data_sets(folder)[0])
    quantize_folder(spec, folder, dest,
                    calibration=calibration_from_inputs(next(iter(inputs.values())), f"{folder}/test_data_set_0"))
    return dest
