"""Where the conformance suite's artifacts come from: the shipped ones always, $FANZOO_TEST_ARTIFACTS too."""
from __future__ import annotations

from pathlib import Path

import pytest

from fanzoo.errors import ArtifactError
from fanzoo.testing.artifacts import ARTIFACTS_ENV, collect_cases, model_folders

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "fanzoo" / "bundled"


def test_shipped_artifacts_need_no_nnabla_and_no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)
    onnx = {case.name: case for case in collect_cases("onnx")}
    assert set(onnx) == {"coverage-fan", "coverage-resnetdepth", "2dfan-lite", "2dfan-lite-v2"}  # + the bundled models
    for name in ("2dfan-lite", "2dfan-lite-v2"):
        assert onnx[name].artifact == BUNDLED / name / "model.onnx"
    assert {case.name for case in collect_cases("nnp")} == {"coverage-fan", "coverage-resnetdepth"}


@pytest.mark.parametrize("given, models", [(BUNDLED, ["2dfan-lite", "2dfan-lite-v2"]), (BUNDLED / "2dfan-lite", ["2dfan-lite"])],
                         ids=["export folder", "model folder"])
def test_the_variable_may_name_the_shipped_folder(given: Path, models: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARTIFACTS_ENV, str(given))
    assert model_folders(given) == [BUNDLED / name for name in models]
    assert [case.name for case in collect_cases("onnx")].count("2dfan-lite") == 1  # once, though named twice


def test_a_requested_folder_that_is_not_one_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "nothing-here"))
    with pytest.raises(ArtifactError, match="is not a folder"):
        collect_cases("onnx")
