"""Regenerate fanzoo/detection/framings.json: how each detector's boxes sit on the 300-W training faces.

    .venv/bin/python tools/measure_framing.py centerface dlib-hog      # all 2012 faces, 4 minutes
    .venv/bin/python tools/measure_framing.py dlib-cnn --every 4      # as committed: the CNN takes ~1 s a photo

Needs ../shared/data (or $FANZOO_DATA). Framings of detectors that are not measured in a run are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanzoo.atomic import atomic_write_text  # noqa: E402
from fanzoo.detection.framing import FRAMINGS_FILE, measure_framing  # noqa: E402
from fanzoo.plugins import plugins  # noqa: E402

DATA = Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))
TRAINSET = DATA / "300w" / "trainset"
MEASURED = ("centerface", "dlib-hog", "dlib-cnn")
# SFD, the authors' detector for FAN-4, cannot run here (its weights are not available). It was trained,
# like CenterFace, on WIDER FACE boxes, so CenterFace's measured framing stands in for it, unverified.
STAND_INS = {"sfd": ("centerface", "not measured: SFD's weights are not available here; CenterFace, trained "
                                   "like SFD on WIDER FACE boxes, stands in for it (unverified)")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detectors", nargs="*", default=list(MEASURED))
    parser.add_argument("--every", type=int, default=1, help="measure every N-th training image")
    args = parser.parse_args()
    if not TRAINSET.is_dir():
        sys.exit(f"error: the 300-W training faces are not at {TRAINSET} (set FANZOO_DATA)")
    document = json.loads(FRAMINGS_FILE.read_text()) if FRAMINGS_FILE.is_file() else {}
    entries = document.get("framings", {})
    for name in args.detectors:
        start = time.perf_counter()
        framing, _ = measure_framing(plugins().detector(name).factory(), [TRAINSET], name, args.every)
        entry = framing.as_dict()
        del entry["name"]
        entry["note"] = "the detector's defaults, on " + (
            f"every {args.every}th 300-W training image" if args.every > 1 else "all 300-W training images")
        entries[name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in entry.items()}
        print(f"{name}: {entries[name]} ({time.perf_counter() - start:.0f} s)")
    for name, (source, note) in STAND_INS.items():
        if source in entries:
            entries[name] = {**entries[source], "faces": 0, "note": note}
    document = {
        "about": "Box centre minus landmark-box centre (dx, dy) and box width and height (w, h), in units of the "
                 "landmark box's sqrt(width * height); medians over the faces found. Made by "
                 "tools/measure_framing.py; see fanzoo/detection/framing.py.",
        "framings": dict(sorted(entries.items())),
    }
    atomic_write_text(FRAMINGS_FILE, json.dumps(document, indent=2) + "\n")
    print(f"wrote {FRAMINGS_FILE}")


if __name__ == "__main__":
    main()
