"""Regenerate the weight-free ONNX graphs in fanzoo/graphs from the NNabla definitions (Python 3.10, NNabla).

    .venv/bin/python tools/make_graphs.py              # every registered architecture
    .venv/bin/python tools/make_graphs.py 2dfan4 ...   # some of them
    .venv/bin/python tools/make_graphs.py --tests      # the toy FAN of the tests, into tests/fixtures/graphs

tests/test_graphs.py regenerates them the same way and fails if a shipped one differs, so run this after
changing an architecture, its default weight tag's decoding or tolerance, or the reference faces.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanzoo.export.weightfree import generate_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="architectures (default: all registered)")
    parser.add_argument("--out", type=Path, default=None, help="default: fanzoo/graphs (tests/fixtures/graphs)")
    parser.add_argument("--tests", action="store_true", help="the tests' toy FAN (tests/tiny.py) instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("nnabla").setLevel(logging.WARNING)
    if args.tests:
        from fanzoo.plugins import Plugins, make_plugin_manager, use_plugins
        from tests.tiny import TinyPlugin, tiny_3d_spec, tiny_spec

        args.out = args.out or ROOT / "tests" / "fixtures" / "graphs"
        with use_plugins(Plugins.collect(make_plugin_manager(extra=(TinyPlugin(tiny_spec(), tiny_3d_spec()),)))):
            made = generate_all(args.out, ["tinyfan", "tiny3d"])
    else:
        args.out = args.out or ROOT / "fanzoo" / "graphs"
        made = generate_all(args.out, args.models or None)
    for contract in made:
        folder = args.out / contract.model
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{contract.model}: {folder} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
