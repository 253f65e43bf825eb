"""Cost of candidate 2dfan-lite-v2 networks: parameters, GFLOPs and ONNX Runtime time a face, side by side.

    .venv/bin/python tools/lite_candidates.py [--rounds 60] [--out /tmp/lite-candidates]

Each candidate is exported to ONNX with seeded random weights and run at batch 1 in one process,
interleaved round by round so that load from other work falls on all of them alike; the medians of
CPU time (process time, 1 and 2 threads) and their ratio to 2dfan-lite are printed. The numbers behind
MODEL_CARD.md's choice of v2's network.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

CANDIDATES = {
    "2dfan-lite (width 64)": {"num_stacks": 1, "width": 64, "stem": (16, 32), "depth": 4},
    "width 72": {"num_stacks": 1, "width": 72, "stem": (16, 32), "depth": 4},
    "width 80": {"num_stacks": 1, "width": 80, "stem": (16, 32), "depth": 4},
    "2 stacks, width 48": {"num_stacks": 2, "width": 48, "stem": (16, 32), "depth": 4},
}


def main() -> None:
    import nnabla as nn
    import onnxruntime as ort

    from fanzoo.builtin_models import lite_spec
    from fanzoo.export.exporter import export_model
    from fanzoo.models.complexity import count_macs, count_params

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lite-candidates"))
    args = parser.parse_args()
    base = lite_spec()
    size = base.preprocessing.input_size
    x = np.random.default_rng(0).random((1, 3, size, size), np.float32)
    files = {}
    for i, (label, config) in enumerate(CANDIDATES.items()):
        spec = replace(base, name=f"candidate-{i}", config=config, bundled_weights=None)
        scope: dict = {}
        with nn.parameter_scope("", scope):
            y = spec.build_function()(nn.Variable((1, 3, size, size)), train=False, **config)
            params = count_params(nn.get_parameters(grad_only=False))
        export_model(spec, "onnx", args.out / spec.name, random_seed=7)
        files[label] = args.out / spec.name / "model.onnx"
        print(f"{label}: {params / 1e6:.2f} M parameters, {2 * count_macs(y) / 1e9:.2f} GFLOPs")
    for threads in (1, 2):
        sessions = {}
        for label, path in files.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            sessions[label] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            sessions[label].run(None, {"x": x})
        times: dict[str, list[float]] = {label: [] for label in sessions}
        for _ in range(args.rounds):
            for label, session in sessions.items():
                start = time.process_time()
                session.run(None, {"x": x})
                times[label].append((time.process_time() - start) * 1e3)
        reference = float(np.median(next(iter(times.values()))))
        for label, values in times.items():
            median = float(np.median(values))
            print(f"{threads} thread(s), {label}: {median:.2f} ms CPU a face, {median / reference:.2f}x")


if __name__ == "__main__":
    main()
