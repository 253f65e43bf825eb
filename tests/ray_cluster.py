"""A real two-node Ray cluster on this machine for tests: a head and a worker node, each a `ray start --block`.

Each node runs in its own process group, so teardown ends exactly the processes this cluster started (never
`ray stop`, which would end every Ray cluster on the machine).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


# Two loopback addresses, one per node: Ray replaces 127.0.0.1 itself by the machine's network address,
# and this cluster must stay on the loopback range.
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HEAD_IP, 0))
        return s.getsockname()[1]


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every live descendant of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        try:
            found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        stack.extend(children.get(child, []))
    return found


@dataclass
class LocalCluster:
    """Head plus one worker node, ``cpus_per_node`` CPUs each, on loopback addresses, with a token of its own."""

    cpus_per_node: int = 1
    nodes: list[subprocess.Popen] = field(default_factory=list)
    address: str = ""
    temp_dir: Path = Path()

    def env(self) -> dict[str, str]:
        # a short root: Ray's Unix sockets live under it and must stay under 107 characters
        return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(self.temp_dir),
                "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.temp_dir / "auth_token")}

    def _start(self, ip: str, *args: str) -> subprocess.Popen:
        log = open(self.temp_dir / f"node{len(self.nodes)}.log", "wb")
        node = subprocess.Popen([RAY, "start", "--block", f"--num-cpus={self.cpus_per_node}", "--num-gpus=0",
                                 f"--node-ip-address={ip}", "--disable-usage-stats", *args],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self.env(), start_new_session=True)
        self.nodes.append(node)
        return node

    def start(self, timeout: float = 240.0) -> LocalCluster:
        """Start both nodes and wait until the cluster sees them alive; on any failure, stop what started."""
        from ray._private.authentication.authentication_token_generator import generate_new_authentication_token

        self.temp_dir = Path(tempfile.mkdtemp(prefix="fzray"))
        token = self.temp_dir / "auth_token"
        token.write_text(generate_new_authentication_token())
        token.chmod(0o600)
        port = _free_port()
        self.address = f"{HEAD_IP}:{port}"
        deadline = time.monotonic() + timeout
        try:
            self._start(HEAD_IP, "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={self.temp_dir}")
            self._wait_for_log(0, deadline)
            self._start(WORKER_IP, f"--address={self.address}")
            self._wait_for_log(1, deadline)
            self._wait_for_nodes(2, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_log(self, index: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.nodes[index].poll() is not None:
                raise RuntimeError(f"Ray node {index} exited with {self.nodes[index].returncode}: {self.logs()}")
            if "Ray runtime started" in (self.temp_dir / f"node{index}.log").read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Ray node {index} did not start in time: {self.logs()}")

    def _wait_for_nodes(self, count: int, deadline: float) -> None:
        probe = ("import ray, sys, time; ray.init(address=sys.argv[1], logging_level='ERROR')\n"
                 "while sum(n['Alive'] for n in ray.nodes()) < int(sys.argv[2]): time.sleep(0.5)")
        try:
            subprocess.run([sys.executable, "-c", probe, self.address, str(count)], capture_output=True, check=True,
                           env=self.env(), timeout=max(1.0, deadline - time.monotonic()))
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"the Ray cluster did not reach {count} live nodes: {exc} {self.logs()}") from exc

    def logs(self) -> str:
        return " | ".join((self.temp_dir / f"node{i}.log").read_text(errors="replace")[-2000:]
                          for i in range(len(self.nodes)))

    def processes(self) -> dict[int, str]:
        """pid -> command line of every process of this cluster (nodes, raylets, workers, actors)."""
        found: dict[int, str] = {}
        for node in self.nodes:
            found.update(descendants(node.pid))
        return found

    def stop(self) -> None:
        """SIGTERM each node (Ray's own shutdown of the processes it started), then SIGKILL their groups."""
        for node in reversed(self.nodes):
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
        for node in reversed(self.nodes):
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(node.pid, signal.SIGKILL)  # whatever of its group is left (workers, helpers)
            except ProcessLookupError:
                pass
            node.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
