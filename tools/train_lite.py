"""Train (or resume) the bundled compact model exactly as MODEL_CARD.md records it.

    .venv/bin/python tools/train_lite.py [--iterations N] [--out training_runs/2dfan-lite]

Resumes from OUT/checkpoint when it exists. When done, copy OUT/best.h5 to fanzoo/bundled/2dfan-lite.h5.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from fanzoo.plugins import get_model
    from fanzoo.training.loop import TrainConfig, train

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "training_runs" / "2dfan-lite")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FANZOO_DATA", ROOT.parent / "shared" / "data"))
                        / "300w" / "trainset")
    parser.add_argument("--max-iterations", type=int, default=None, help="Stop after this many more iterations.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("nnabla").setLevel(logging.WARNING)
    best = train(get_model("2dfan-lite"), TrainConfig(), args.data, args.out, max_iterations=args.max_iterations)
    print(f"best weights: {best}")


if __name__ == "__main__":
    main()
