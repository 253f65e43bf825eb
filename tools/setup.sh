#!/usr/bin/env bash
# The one set-up command of the README: install into .venv/, then run the main job on a bundled photo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
mkdir -p out
.venv/bin/fanzoo predict examples/images/astronaut.jpg --output out/astronaut_landmarks.png --json out/astronaut.json
echo "annotated image: out/astronaut_landmarks.png   landmarks: out/astronaut.json"
