"""Facts about the machine a benchmark ran on, detected rather than written down: CPU, cores, GPU, load."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

# instruction sets that decide which precision is fast: AVX-512 and VNNI for int8, BF16 and AMX for bfloat16
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_model(lines: list[str]) -> str:
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    return names[0] if names else (platform.processor() or platform.machine())


def physical_cores(lines: list[str]) -> int | None:
    """Distinct (package, core) pairs: hyper-threads do not count."""
    cores, package = set(), "0"
    for ln in lines:
        if ln.startswith("physical id"):
            package = ln.split(":", 1)[1].strip()
        elif ln.startswith("core id"):
            cores.add((package, ln.split(":", 1)[1].strip()))
    return len(cores) or None


def cpu_flags(lines: list[str]) -> list[str]:
    have = next((set(ln.split(":", 1)[1].split()) for ln in lines if ln.startswith("flags")), set())
    return [f for f in FLAGS if f in have]


def gpus() -> list[str]:
    """NVIDIA GPUs this process could use, as nvidia-smi or the driver lists them; [] when there are none."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
            if out.returncode == 0:
                return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
        except (OSError, subprocess.TimeoutExpired):
            pass
    driver = Path("/proc/driver/nvidia/gpus")
    return sorted(p.name for p in driver.iterdir()) if driver.is_dir() else []


def memory_gib() -> float | None:
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                return round(int(ln.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def bench_threads() -> int:
    return int(os.environ.get("FANZOO_BENCH_THREADS") or usable_cores())


# every runtime gets the same number of threads (the cores this process may use), stated in the results
THREADS = bench_threads()


def facts() -> dict:
    lines = _cpuinfo()
    return {"cpu": cpu_model(lines), "cores": os.cpu_count(), "usable_cores": usable_cores(),
            "physical_cores": physical_cores(lines), "cpu_flags": cpu_flags(lines),
            "virtual_machine": any(ln.startswith("flags") and " hypervisor" in ln for ln in lines),
            "memory_gib": memory_gib(), "gpus": gpus(), "os": platform.platform(),
            "python": platform.python_version()}


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load: on a shared machine, the contention the timings were taken under."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
