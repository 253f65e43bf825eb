#!/usr/bin/env bash
# The reference environment: the authors' face-alignment 1.5.0 on PyTorch 2.13.0 (CPU), Python 3.11.
# Used to regenerate test fixtures (tools/make_fixtures.py) and as a benchmark peer. Never a runtime dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
PY311=${FANZOO_PYTHON311:-$(command -v python3.11)}
[ -x .venv-ref/bin/python ] || "$PY311" -m venv .venv-ref
.venv-ref/bin/python -m pip --disable-pip-version-check -q install torch==2.13.0 face-alignment==1.5.0 'numpy<2'
.venv-ref/bin/python -c 'import torch, face_alignment; print("reference env: torch", torch.__version__, "face-alignment", face_alignment.__version__)'
