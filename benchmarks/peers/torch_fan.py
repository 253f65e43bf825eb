"""The authors' face-alignment 1.5.0 (PyTorch, CPU) as a benchmark peer, run in its own Python 3.11 venv.

Started by benchmarks/peers/__init__.py; speaks a line protocol on stdin/stdout so the timing loop
stays in the parent and every backend is measured the same way:
    load WEIGHTS.npz STACKS [DEPTH.npz]  -> "ok THREADS" (intra-op threads in use; inter-op is pinned to 1)
    inputs FAN.npy [DEPTH.npy]           -> "ok": the real face crops (and depth inputs) that fanzoo's rows feed
    net BATCH                            -> seconds for one FAN (+ ResNetDepth if loaded) forward on BATCH of them
    e2e IMAGE.npy BOXES.npy FLIP         -> seconds for get_landmarks_from_image with those boxes
"""
from __future__ import annotations

import sys
import time

import face_alignment
import numpy as np
import torch
from face_alignment.models import FAN, ResNetDepth


class _Boxes:
    reference_scale = 195


def load(path: str, net: torch.nn.Module) -> torch.nn.Module:
    with np.load(path) as f:
        state = {k: torch.from_numpy(f[k]) for k in f.files}
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return net.eval()


def batch_of(inputs: torch.Tensor, batch: int) -> torch.Tensor:
    """The first ``batch`` inputs, repeated when fewer are stored (as fanzoo's rows tile the same crops)."""
    reps = -(-batch // len(inputs))
    return inputs.repeat(reps, 1, 1, 1)[:batch].contiguous()


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.set_num_interop_threads(1)
    fan = depth = aligner = fan_inputs = depth_inputs = None
    for line in sys.stdin:
        cmd, *args = line.split()
        with torch.no_grad():
            if cmd == "load":
                fan = load(args[0], FAN(int(args[1])))
                depth = load(args[2], ResNetDepth()) if len(args) > 2 else None
                aligner = object.__new__(face_alignment.FaceAlignment)
                aligner.device, aligner.dtype, aligner.verbose, aligner.max_batch_size = "cpu", torch.float32, False, 8
                aligner.landmarks_type = (face_alignment.LandmarksType.THREE_D if depth is not None
                                          else face_alignment.LandmarksType.TWO_D)
                aligner.face_detector, aligner.face_alignment_net = _Boxes(), fan
                if depth is not None:
                    aligner.depth_prediciton_net = depth
                reply = f"ok {torch.get_num_threads()}"
            elif cmd == "inputs":
                fan_inputs = torch.from_numpy(np.load(args[0]))
                depth_inputs = torch.from_numpy(np.load(args[1])) if len(args) > 1 else None
                fan(fan_inputs[:1])  # warm-up
                reply = "ok"
            elif cmd == "net":  # the landmark network, and the depth network when one is loaded (3D)
                x = batch_of(fan_inputs, int(args[0]))
                d = batch_of(depth_inputs, int(args[0])) if depth is not None else None
                start = time.perf_counter()
                fan(x)
                if d is not None:
                    depth(d)
                reply = str(time.perf_counter() - start)
            elif cmd == "e2e":
                image, boxes = np.load(args[0]), np.load(args[1])
                aligner.flip_input = args[2] == "1"
                start = time.perf_counter()
                aligner.get_landmarks_from_image(image, detected_faces=list(boxes))
                reply = str(time.perf_counter() - start)
            else:
                reply = f"error unknown command {cmd}"
        print(reply, flush=True)


if __name__ == "__main__":
    main()
