"""Regenerate fanzoo/testing/coverage/: the conformance suite's small coverage models (needs NNabla).

    .venv/bin/python tools/make_coverage_artifacts.py [OUT_DIR]

Seeded weights (BatchNorm calibrated on the two bundled face crops), exported to ONNX and NNP and
validated against the NNabla graph; tests/test_coverage_models.py checks the committed copy is current.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanzoo.testing.coverage import COVERAGE_DIR, coverage_models  # noqa: E402
from fanzoo.testing.generate import make_coverage_artifact  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else COVERAGE_DIR
    for model in coverage_models():
        manifest = make_coverage_artifact(model, out / model.name)
        errors = ", ".join(f"{fmt} {entry.max_relative_error:.1e}" for fmt, entry in manifest.artifacts.items())
        print(f"{out / model.name}: {errors} (tolerance {manifest.tolerance:.0e})")


if __name__ == "__main__":
    main()
