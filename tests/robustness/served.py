"""The real server as a process (`pe-portal serve`), for tests that need processes and logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pe_portal.db.runtime import DatabaseUrls


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def server_env(urls: DatabaseUrls, home: Path, **extra: str) -> dict[str, str]:
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("PROMETHEUS")},
        "ENV": "development",
        "DATABASE_URL": urls.app,
        "DATABASE_MIGRATION_URL": urls.migration,
        "JWT_KEYS_DIR": str(home / "keys"),
        "MAIL_DIR": str(home / "mail"),
        "AUTH_RATE_LIMIT": "0",
        "SESSION_CLEANUP_INTERVAL": "0",
        **extra,
    }


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready within 60 s")


@contextmanager
def serve(
    env: dict[str, str], home: Path, workers: int = 1, port: int | None = None
) -> Iterator[Served]:
    """`pe-portal serve --no-migrate` on a loopback port (a free one unless given), stopped
    (group-wide) at the end."""
    port = port or free_port()
    log = home / f"server-{port}.log"
    command = [sys.executable, "-m", "pe_portal.cli", "serve", "--no-migrate",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            command, stdout=output, stderr=output, env=env, cwd=home, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Served(url, log, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
