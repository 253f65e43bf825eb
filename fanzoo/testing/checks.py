"""Comparisons and contract checks of the conformance suite, each returning messages that name the model,
the output and the worst error against the tolerance (an empty list when all is well)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..backend import ARTIFACT_FORMATS, DeviceStatus
from ..export.reference import relative_error
from .artifacts import Case


def compare(case: Case, expected: Mapping[str, np.ndarray], got: Any, context: str) -> list[str]:
    """Messages for every output of ``got`` that is missing, misshapen or off by more than the tolerance."""
    where = f"{case.name} ({case.folder.name}, {case.source})"
    if not isinstance(got, Mapping):
        return [f"{where} {context}: run() returned {type(got).__name__}, not a dict of output name -> array"]
    messages = []
    for name, reference in expected.items():
        if name not in got:
            messages.append(f"{where} {context}: output {name!r} is missing (got {sorted(got)})")
            continue
        ours = got[name]
        if not isinstance(ours, np.ndarray) or ours.shape != reference.shape:
            shape = getattr(ours, "shape", type(ours).__name__)
            messages.append(f"{where} {context}: output {name!r} has shape {shape}, expected {reference.shape}")
            continue
        error = relative_error(ours, reference)
        if not error <= case.manifest.tolerance:  # also catches NaN
            diff = np.abs(ours.astype(np.float64) - reference)
            worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape)
            messages.append(
                f"{where} {context}: output {name!r} max relative error {error:.2e} > tolerance "
                f"{case.manifest.tolerance:.0e} (worst at {list(map(int, worst))}: got {ours[worst]:.6g}, "
                f"expected {reference[worst]:.6g})")
    return messages


def batch_orders(stored: int) -> dict[str, list[int]]:
    """Batch-size sequences run on one fresh session each: a runtime that keeps state from a previous batch
    size (a fused layer, a cached shape) gives wrong rows after the change, whichever way it goes."""
    big = stored + 1
    return {"large first": [big, 1, stored, 1, big], "small first": [1, big, 1, stored, big]}


def rows(count: int, stored: int) -> list[int]:
    """Row indices of the stored batch that make a batch of ``count`` (repeating faces as needed)."""
    return [i % stored for i in range(count)]


def attribute_problems(backend: Any, expected_name: str) -> list[str]:
    problems = []
    name = getattr(backend, "name", None)
    if name != expected_name:
        problems.append(f"`name` is {name!r}, but the backend is registered and tested as {expected_name!r}")
    fmt = getattr(backend, "artifact_format", None)
    if fmt not in ARTIFACT_FORMATS:
        problems.append(f"`artifact_format` is {fmt!r}; it must be one of {ARTIFACT_FORMATS}")
    description = getattr(backend, "description", None)
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        problems.append(f"`description` must be one non-empty line for `fanzoo backends`, got {description!r}")
    return problems


def device_problems(devices: Any) -> list[str]:
    if not isinstance(devices, Sequence) or isinstance(devices, str):
        return [f"devices() must return a list of fanzoo.backend.DeviceStatus, got {type(devices).__name__}"]
    wrong = [d for d in devices if not isinstance(d, DeviceStatus)]
    if wrong:
        return [f"devices() must return fanzoo.backend.DeviceStatus objects, got {type(wrong[0]).__name__}: "
                f"{wrong[0]!r}"]
    problems = []
    names = [d.device for d in devices]
    if len(set(names)) != len(names):
        problems.append(f"devices() lists a device twice: {names}")
    cpu = next((d for d in devices if d.device == "cpu"), None)
    if cpu is None or not cpu.available:
        problems.append(f"devices() must list 'cpu' as available where the runtime is installed, got {cpu!r}")
    problems += [f"device {d.device!r} is unavailable without a reason (say what to install)"
                 for d in devices if not d.available and not d.reason.strip()]
    return problems


IMPORT_PROBE = """
import importlib, json, sys
import numpy, pluggy, click
import fanzoo, fanzoo.backend, fanzoo.errors, fanzoo.hookspecs, fanzoo.plugins
before = set(sys.modules)
module = importlib.import_module(sys.argv[1])
found = fanzoo.plugins.Plugins.collect(fanzoo.plugins.make_plugin_manager(load_entry_points=False, extra=(module,)))
new = sorted({name.split(".")[0] for name in set(sys.modules) - before})
allowed = {sys.argv[1].split(".")[0], "fanzoo"}
print(json.dumps({"imported": [m for m in new if m not in sys.stdlib_module_names and m not in allowed],
                  "backends": sorted(found.backends) + sorted(n for k, n in found.rejected)}))
"""


def registration_imports(module: str) -> tuple[list[str], list[str]]:
    """(non-standard-library packages imported by importing and registering ``module`` beyond fanzoo, numpy,
    pluggy and click; backend names it registered), measured in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE, module], capture_output=True, text=True, env=env,
                          timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"importing and registering {module} in a fresh interpreter failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["imported"], result["backends"]
