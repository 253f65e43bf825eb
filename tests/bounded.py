"""Run a reader of untrusted bytes in a child process under an address-space limit and a timeout.

A crash (signal), a hang, a MemoryError or any exception other than the expected ones must fail a test
instead of taking the test process down with it, so hostile inputs are read in a fork of a clean,
single-threaded server process (multiprocessing's forkserver, which has imported the readers already).
"""
from __future__ import annotations

import importlib
import multiprocessing
import resource
from dataclasses import dataclass
from typing import Any

# what a reader may allocate on top of what the process already maps; a bounded reader stays far below
DEFAULT_EXTRA_BYTES = 1 << 30
DEFAULT_TIMEOUT = 60.0
PRELOAD = ["numpy", "cv2", "h5py", "fanzoo.imageio", "fanzoo.pts", "fanzoo.detection", "fanzoo.export.manifest",
           "fanzoo.weights.torch_checkpoint", "fanzoo.weights.h5params", "fanzoo.weights.importer"]

_context: Any = None


@dataclass(frozen=True)
class Outcome:
    """What happened: ``kind`` is "ok", "raised", "crashed" or "timeout"."""

    kind: str
    error_type: str = ""
    message: str = ""
    result: Any = None
    peak_growth: int = 0  # bytes the child's resident set grew to, above where it started
    error_bases: tuple[str, ...] = ()  # the exception's class and its bases, by full name


    def raised(self, *types: type[BaseException] | str) -> bool:
        """Whether the child raised one of ``types`` (classes or full names), or a subclass of one."""
        names = {t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}" for t in types}
        return self.kind == "raised" and bool(names & set(self.error_bases))

    def __str__(self) -> str:
        return f"{self.kind} {self.error_type}: {self.message[:300]}"


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(conn, target: str, args: tuple, extra_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_status("VmSize") + extra_bytes, resource.RLIM_INFINITY))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    start = _status("VmHWM")
    bases: tuple[str, ...] = ()
    try:
        result = function(*args)
        answer = ("ok", "", "", summarize(result))
    except BaseException as exc:  # every exception goes to the parent, which judges it
        kind = type(exc)
        answer = ("raised", f"{kind.__module__}.{kind.__qualname__}", str(exc), None)
        bases = tuple(f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__)
    conn.send((*answer, _status("VmHWM") - start, bases))
    conn.close()


def summarize(result: Any) -> Any:
    """Something small and picklable that tells what a reader returned (arrays by shape and dtype)."""
    shape = getattr(result, "shape", None)
    if shape is not None:
        return ("array", tuple(shape), str(getattr(result, "dtype", "")))
    if isinstance(result, dict):
        return {str(k): summarize(v) for k, v in list(result.items())[:2000]}
    if isinstance(result, (list, tuple)):
        return [summarize(v) for v in result[:2000]]
    if hasattr(result, "rgb"):  # a LoadedImage
        return ("image", tuple(result.rgb.shape), result.scale)
    return repr(result)[:200]


def context():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run_bounded(target: str, *args: Any, extra_bytes: int = DEFAULT_EXTRA_BYTES,
                timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Call ``module:function(*args)`` in a child limited to ``extra_bytes`` more address space."""
    ctx = context()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, target, args, extra_bytes), daemon=True)
    process.start()
    send.close()
    outcome = None
    if receive.poll(timeout):
        try:
            outcome = Outcome(*receive.recv())
        except EOFError:  # the child died before it could answer
            pass
    process.join(5 if outcome is not None else 0.5)
    if process.is_alive():
        process.kill()
        process.join()
        if outcome is None:
            return Outcome("timeout", message=f"no answer within {timeout} s")
    receive.close()
    if outcome is None:
        return Outcome("crashed", message=f"exit code {process.exitcode}")
    return outcome
