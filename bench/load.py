"""The load generator: Debian's `wrk` in its own process, scripted in Lua (bench/lua)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).with_name("lua")
THREADS = 2


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    statuses: dict[str, int] = field(default_factory=dict)
    # Refresh chains only: each chain's current token, for a later run to go on from.
    tokens: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ok_per_second(self, status: str = "200") -> float:
        return self.statuses.get(status, 0) / self.seconds if self.seconds else 0.0


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk could not be installed (apt-get install wrk)")
    return found


def run_wrk(
    base_url: str,
    script: str,
    lines: list[str],
    *,
    seconds: float,
    connections: int,
    env: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> LoadResult:
    """Run one wrk scenario (`script` in bench/lua) fed with `lines`; its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as data:
        data.write("\n".join(lines) + "\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write((LUA / "common.lua").read_text() + (LUA / script).read_text())
    try:
        return _run(base_url, lua.name, data.name, seconds, connections, env or {}, timeout)
    finally:
        os.unlink(data.name)
        os.unlink(lua.name)


def _run(
    base_url: str,
    lua: str,
    data: str,
    seconds: float,
    connections: int,
    env: dict[str, str],
    timeout: float,
) -> LoadResult:
    command = [
        ensure_wrk(), f"-t{THREADS}", f"-c{connections}", f"-d{int(seconds)}s",
        f"--timeout={int(timeout)}s", "-s", lua, base_url,
    ]  # fmt: skip
    environment = {**os.environ, "BENCH_DATA": data, "BENCH_THREADS": str(THREADS), **env}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return _parse(done.stdout)


def run_refresh(base_url: str, tokens: list[str], *, seconds: float, path: str = "") -> LoadResult:
    """Refresh chains, one per token, from a Python load generator in its own process."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as data:
        data.write("\n".join(tokens) + "\n")
    try:
        url = base_url + path
        command = [sys.executable, "-m", "bench.refresh_load", url, str(seconds), data.name]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    finally:
        os.unlink(data.name)
    return _parse(done.stdout)


def _parse(stdout: str) -> LoadResult:
    line = next(row for row in stdout.splitlines() if row.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=raw["errors"],
        statuses=raw["statuses"],
        tokens=raw.get("tokens", []),
    )
