"""The backend contract: an exported artifact in, a session that maps named float32 tensors to tensors out.

A backend knows nothing of faces. The core uses only what is declared here, and the conformance suite
(:mod:`fanzoo.testing`) checks all of it; docs/plugins.md explains it. Public API, stable within 0.x
minor releases (a change is announced in the changelog and the suite at once): ``Backend``, ``Session``,
``DeviceStatus``, ``check_artifact``, ``check_feeds``, ``parse_device``, ``load_session``, ``ARTIFACT_FORMATS`` and
``DEFAULT_PRECISION``.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ArtifactError, BackendUnavailableError, InputError

# the artifact files the core can make (`fanzoo export --format`), hence the only ones a backend may load
ARTIFACT_FORMATS = ("onnx", "nnp")
# what every backend runs; a backend may offer more inference precisions through ``precisions``
DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True)
class DeviceStatus:
    """Whether a backend can run on one device here, and if not, what to install."""

    device: str
    available: bool
    reason: str = ""  # required when not available: what is missing and how to get it


@runtime_checkable
class Session(Protocol):
    """A loaded network. ``run`` takes and returns float32 arrays keyed by tensor name.

    ``run`` validates its feeds with :func:`check_feeds` (so bad input is an :class:`InputError`), returns
    exactly ``output_names`` as new float32 arrays that later runs do not overwrite, and gives the same
    rows whatever the batch size and whatever batch sizes ran before.
    """

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@runtime_checkable
class Backend(Protocol):
    """A plugin-provided runtime. Registering one must not import the runtime.

    Optional: ``precisions``, what it runs (:mod:`fanzoo.precision`): ``"int8"`` for a quantized artifact it loads
    like any file, ``"bf16"`` for a compute precision that ``load`` accepts as ``precision=``. Without it the
    backend runs fp32 only and is never passed ``precision``.
    """

    name: str  # the --backend name; by convention the entry-point name, module fanzoo_<name>
    artifact_format: str  # one of ARTIFACT_FORMATS: which exported file it loads
    description: str  # one line for `fanzoo backends`

    def version(self) -> str | None:
        """Version of the runtime package, or None when it is not installed. Must not raise."""

    def devices(self) -> list[DeviceStatus]:
        """Every device the backend knows (at least "cpu"), with its availability here. Must not raise."""

    def load(self, artifact: Path, device: str = "cpu", threads: int | None = None) -> Session:
        """Open an artifact. ``device`` is "cpu", "cuda" or "cuda:N" (split by :func:`parse_device`); ``threads``
        caps the runtime's threads (None: the runtime's choice).

        Raises :class:`ArtifactError` for a missing, foreign or damaged file (use :func:`check_artifact`
        first), and :class:`BackendUnavailableError` for an unknown device, one that cannot run here, or a
        runtime that is not installed. Never falls back to another device silently."""


def parse_device(device: str) -> tuple[str, int]:
    """"cpu" -> ("cpu", 0); "cuda" -> ("cuda", 0); "cuda:1" -> ("cuda", 1). Anything else is for the backend to refuse."""
    kind, _, index = str(device).partition(":")
    if index and not index.isdigit():
        raise BackendUnavailableError(f"{device!r} is not a device: use cpu, cuda or cuda:N")
    return kind, int(index or 0)


def check_artifact(path: Path, suffix: str) -> Path:
    """The shared checks every backend makes before handing a file to its runtime."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"artifact not found: {path} (make it with `fanzoo export`)")
    if path.suffix.lower() != suffix:
        raise ArtifactError(f"{path} is not a {suffix} file; this backend loads {suffix} artifacts")
    return path


def check_feeds(feeds: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int | None, ...]]) -> None:
    """Validate names, dtype and shape of inputs before a runtime sees them, so errors read the same
    everywhere. A None in an expected shape accepts any size (the batch axis)."""
    if not isinstance(feeds, Mapping):
        raise InputError(f"inputs must be a mapping of tensor name to array, got {type(feeds).__name__}")
    missing = [n for n in shapes if n not in feeds]
    extra = [n for n in feeds if n not in shapes]
    if missing or extra:
        raise InputError(f"inputs must be named {sorted(shapes)}; got {sorted(feeds)}")
    for name, expected in shapes.items():
        array = feeds[name]
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            dtype = getattr(array, "dtype", type(array).__name__)
            raise InputError(f"input {name!r} must be a float32 numpy array, got {dtype}")
        if array.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, array.shape)):
            shown = tuple("N" if e is None else e for e in expected)
            raise InputError(f"input {name!r} must have shape {shown}, got {array.shape}")
        if array.shape[0] == 0:
            raise InputError(f"input {name!r} has an empty batch")


def load_session(backend: Backend, artifact: Path, device: str = "cpu", threads: int | None = None,
                 precision: str | None = None) -> Session:
    """Open a session the way the core does: ``precision=`` is passed only for a compute precision (bf16) the
    backend lists; an artifact precision (int8) is a file of its own, loaded like any other (fanzoo.precision)."""
    from .precision import check_backend_precision, load_options

    if precision is None or precision == DEFAULT_PRECISION:
        return backend.load(artifact, device=device, threads=threads)
    check_backend_precision(backend, precision)
    return backend.load(artifact, device=device, threads=threads, **load_options(precision))


def contract_problems(backend: Any) -> list[str]:
    """What a backend object lacks of the contract, checked without calling it (registration uses this;
    the conformance suite checks the rest by calling it)."""
    problems = []
    for attribute in ("name", "artifact_format", "description"):
        value = getattr(backend, attribute, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"`{attribute}` must be a non-empty string")
    fmt = getattr(backend, "artifact_format", None)
    if isinstance(fmt, str) and fmt and fmt not in ARTIFACT_FORMATS:
        problems.append(f"`artifact_format` is {fmt!r}; fanzoo makes {' and '.join(ARTIFACT_FORMATS)} artifacts")
    for method in ("version", "devices", "load"):
        if not callable(getattr(backend, method, None)):
            problems.append(f"`{method}()` is missing")
    offered = getattr(backend, "precisions", (DEFAULT_PRECISION,))
    from .precision import PRECISIONS, is_compute_precision

    if not (isinstance(offered, Sequence) and not isinstance(offered, str) and DEFAULT_PRECISION in offered
            and all(p in PRECISIONS for p in offered)):
        problems.append(f"`precisions` must be a tuple of {', '.join(PRECISIONS)} that includes {DEFAULT_PRECISION!r}, "
                        f"got {offered!r}")
        offered = (DEFAULT_PRECISION,)
    compute = [p for p in offered if is_compute_precision(p)]
    load = getattr(backend, "load", None)
    if callable(load):
        extra = {"precision": compute[0]} if compute else {}
        try:
            inspect.signature(load).bind("model.onnx", device="cpu", threads=None, **extra)
        except TypeError:
            wanted = "artifact, device='cpu', threads=None" + (", precision='fp32'" if extra else "")
            problems.append(f"`load()` must accept load({wanted})")
        except ValueError:  # no signature to inspect (a builtin): the suite's calls will tell
            pass
    return problems
