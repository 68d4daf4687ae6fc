"""Server processes for a run: the real `pe-portal serve` and the baseline, started and stopped
here, with the resident memory of each worker read from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process group listening on 127.0.0.1:`port`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, workers: int) -> None:
        self.process = process
        self.port = port
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server itself, or its spawned workers."""
        if self.workers == 1:
            return [self.process.pid]
        return [pid for pid in _descendants(self.process.pid) if _is_worker(pid)]

    def rss_mib(self) -> list[float]:
        return [round(_rss_kib(pid) / 1024, 1) for pid in self.worker_pids()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the workers have used: per request, a figure that a shared,
        noisy machine disturbs far less than requests per second."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.worker_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / ticks


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"spawn_main" in cmdline and b"resource_tracker" not in cmdline


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _wait_ready(server: Server, path: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server on port {server.port} exited ({server.process.returncode})")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as response:  # noqa: S310
                if response.status == 200 and len(server.worker_pids()) >= server.workers:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {server.port} not ready in time")


@contextmanager
def running(command: list[str], env: dict[str, str], workers: int, log: Path, ready_path: str,
            port: int, code: Path = REPO) -> Iterator[Server]:  # fmt: skip
    """Start `command` in the checkout `code`, wait until `ready_path` answers 200 and every
    worker exists, then stop the whole process group at the end."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, env=env, cwd=code, stdout=output, stderr=output, start_new_session=True
        )
    server = Server(process, port, workers)
    try:
        _wait_ready(server, ready_path, time.monotonic() + 90)
        time.sleep(1.0)  # let the last worker finish its start-up
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def portal(
    env: dict[str, str], workers: int, log: Path, code: Path = REPO
) -> AbstractContextManager[Server]:
    port = free_port()
    command = [sys.executable, "-m", "pe_portal.cli", "serve", "--no-migrate",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    return running(command, env, workers, log, "/ready", port, code)


def baseline(env: dict[str, str], workers: int, log: Path) -> AbstractContextManager[Server]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.baseline:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--loop", "uvloop", "--http", "httptools", "--no-server-header",
               "--log-level", "info"]  # fmt: skip
    return running(command, env, workers, log, "/health", port)
