"""Peers measured in the same run: the authors' PyTorch code, in another process and Python."""
from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_PYTHON = Path(os.environ.get("FANZOO_REFERENCE_PYTHON", ROOT / ".venv-ref" / "bin" / "python"))


@lru_cache(maxsize=1)
def reference_python_problem() -> str | None:
    """Why the PyTorch peer cannot run here, or None if it can."""
    if not REFERENCE_PYTHON.exists():
        return (f"no reference environment at {REFERENCE_PYTHON} (Python 3.11 with torch==2.13.0 and "
                "face-alignment==1.5.0: `bash tools/reference_env.sh`)")
    check = subprocess.run([str(REFERENCE_PYTHON), "-c", "import torch, face_alignment"], capture_output=True)
    if check.returncode != 0:
        return f"the reference environment cannot import torch/face_alignment: {check.stderr.decode()[-300:]}"
    return None


class TorchPeer:
    """face-alignment 1.5.0 in a subprocess, loaded with the same weights fanzoo runs, and fed the same real face
    crops (``fan_inputs``, and for 3D ``depth_inputs``) as fanzoo's network rows."""

    def __init__(self, workdir: Path, fan_params: dict[str, np.ndarray], stacks: int, fan_inputs: np.ndarray,
                 depth_params: dict[str, np.ndarray] | None = None, depth_inputs: np.ndarray | None = None,
                 threads: int = 2) -> None:
        from fanzoo.weights.names import nnabla_to_torch

        self.workdir = workdir
        args = [self._save("fan", nnabla_to_torch(fan_params)), str(stacks)]
        if depth_params is not None:
            args.append(self._save("depth", nnabla_to_torch(depth_params)))
        self.proc = subprocess.Popen([str(REFERENCE_PYTHON), str(Path(__file__).with_name("torch_fan.py")),
                                      str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        reply = self.ask("load", *args).split()
        assert reply[0] == "ok", reply
        self.threads = int(reply[1])  # what torch reports it uses, not only what was asked
        inputs = [self._save_array("fan_inputs", fan_inputs)]
        if depth_params is not None:
            assert depth_inputs is not None, "a 3D peer needs the depth network's inputs too"
            inputs.append(self._save_array("depth_inputs", depth_inputs))
        assert self.ask("inputs", *inputs) == "ok"

    def _save(self, name: str, arrays: dict[str, np.ndarray]) -> str:
        path = self.workdir / f"{name}.npz"
        np.savez(path, **arrays)
        return str(path)

    def _save_array(self, name: str, array: np.ndarray) -> str:
        path = self.workdir / f"{name}.npy"
        np.save(path, np.ascontiguousarray(array, dtype=np.float32))
        return str(path)

    def ask(self, *words: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply or reply.startswith("error"):
            raise RuntimeError(f"torch peer failed: {reply!r}")
        return reply

    def net(self, batch: int) -> float:
        return float(self.ask("net", str(batch)))

    def e2e(self, image: np.ndarray, boxes: np.ndarray, flip: bool = False) -> float:
        np.save(self.workdir / "image.npy", image)
        np.save(self.workdir / "boxes.npy", boxes)
        return float(self.ask("e2e", str(self.workdir / "image.npy"), str(self.workdir / "boxes.npy"),
                              "1" if flip else "0"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=30)
