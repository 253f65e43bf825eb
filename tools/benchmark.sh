#!/usr/bin/env bash
# The whole benchmark matrix (every model, runtime, batch and precision, side by side with the authors' PyTorch
# code and the plain NNabla path), then benchmarks/RESULTS.md from it. About an hour on 2 cores.
# `pytest benchmarks/` alone runs the default selection: the goal rows and a small matrix, in minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash tools/install.sh
[ -x .venv-ref/bin/python ] || bash tools/reference_env.sh
# the results file is committed: RESULTS.md can be rendered again from it (python -m benchmarks.report)
.venv/bin/python -m pytest benchmarks --full -p no:cacheprovider --benchmark-json=benchmarks/results.json \
    --benchmark-sort=name -q "$@"
.venv/bin/python -m benchmarks.report benchmarks/results.json
