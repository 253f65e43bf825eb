#!/usr/bin/env bash
# One command: run every benchmark (several rounds each) and regenerate benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash tools/install.sh
[ -x .venv-ref/bin/python ] || bash tools/reference_env.sh
.venv/bin/python -m pytest benchmarks -p no:cacheprovider --benchmark-json=benchmarks/results.json \
    --benchmark-sort=name -q "$@"
.venv/bin/python -m benchmarks.report benchmarks/results.json
