"""The scenarios of issue 6, each returning plain figures (printed by bench.__main__)."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import httpx

from bench import servers
from bench.cluster import BenchDatabase
from bench.load import LoadResult, run_refresh, run_wrk
from pe_portal.ops.seed import DEMO_PASSWORD, demo_email

READ_PATH = "/api/v1/auth/sessions"  # until GET /api/v1/users/me exists (then: switch)
ME_PATH = "/api/v1/users/me"
AUDIT_PATH = "/api/v1/users/me/audit-logs"


@dataclass
class Run:
    """What every scenario needs: the database, the knobs, and where results accumulate."""

    db: BenchDatabase
    seconds: float
    connections: int
    logs: Path
    results: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Tokens:
    user_ids: list[str]
    access: list[str]
    refresh: list[str]


def sign_in(base_url: str, count: int, first: int = 0) -> Tokens:
    """Sign `count` demo users in (a few at a time, as bcrypt allows)."""

    async def one(client: httpx.AsyncClient, index: int, gate: asyncio.Semaphore) -> Any:
        body = {"email": demo_email(index), "password": DEMO_PASSWORD}
        async with gate:
            for _ in range(60):  # 503 "busy" while an earlier storm drains: wait, as clients do
                response = await client.post("/api/v1/auth/login", json=body)
                if response.status_code != 503:
                    break
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            response.raise_for_status()
            return response.json()

    async def main() -> list[Any]:
        gate = asyncio.Semaphore(4)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await asyncio.gather(
                *(one(client, i, gate) for i in range(first, first + count))
            )

    bodies = asyncio.run(main())
    return Tokens(
        [body["user"]["id"] for body in bodies],
        [body["accessToken"] for body in bodies],
        [body["refreshToken"] for body in bodies],
    )


def read_path(base_url: str) -> str:
    """GET /users/me when the app has it, else the sessions list (another authenticated read)."""
    with httpx.Client(base_url=base_url) as client:
        paths = client.get("/openapi.json").json()["paths"]
    return ME_PATH if ME_PATH in paths and "get" in paths[ME_PATH] else READ_PATH


def has_path(base_url: str, path: str) -> bool:
    with httpx.Client(base_url=base_url) as client:
        return path in client.get("/openapi.json").json()["paths"]


def authenticated_read(run: Run, server: servers.Server, tokens: Tokens, path: str) -> LoadResult:
    return run_wrk(server.url, "read.lua", tokens.access, seconds=run.seconds,
                   connections=run.connections, env={"BENCH_PATH": path})  # fmt: skip


def warm_up(server: servers.Server, lines: list[str], path: str) -> None:
    run_wrk(server.url, "read.lua", lines, seconds=3, connections=64, env={"BENCH_PATH": path})


def baselines(
    run: Run, workers: int, user_ids: list[str], refresh_tokens: list[str]
) -> dict[str, LoadResult]:
    """The bare server's ceilings: its PK SELECT, no I/O at all, the refresh statement."""
    log = run.logs / f"baseline-{workers}w.log"
    figures: dict[str, LoadResult] = {}
    with servers.baseline(run.db.env(), workers, log) as server:
        warm_up(server, user_ids, "/baseline/{}")
        for name, path in (("read", "/baseline/{}"), ("none", "/baseline/none")):
            figures[name] = run_wrk(server.url, "read.lua", user_ids, seconds=run.seconds,
                                    connections=run.connections, env={"BENCH_PATH": path})  # fmt: skip
        figures["refresh"] = run_refresh(
            server.url, refresh_tokens[: run.connections], seconds=run.seconds,
            path="/baseline/refresh",
        )  # fmt: skip
        run.rss[f"baseline {workers}w after read"] = server.rss_mib()
    return figures


def refresh(run: Run, server: servers.Server, tokens: Tokens) -> LoadResult:
    return run_refresh(server.url, tokens.refresh[: run.connections], seconds=run.seconds)


def login(run: Run, server: servers.Server, emails: list[str]) -> LoadResult:
    return run_wrk(server.url, "login.lua", emails, seconds=run.seconds, connections=64,
                   env={"BENCH_PASSWORD": DEMO_PASSWORD}, timeout=10)  # fmt: skip


def _bcrypt_worker(args: tuple[bytes, float]) -> int:
    hashed, seconds = args
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        bcrypt.checkpw(DEMO_PASSWORD.encode(), hashed)
        count += 1
    return count


def bcrypt_baseline(workers: int, seconds: float) -> float:
    """`bcrypt.checkpw` at cost 12 in `workers` processes: checks per second."""
    hashed = bcrypt.hashpw(DEMO_PASSWORD.encode(), bcrypt.gensalt(12))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        counts = pool.map(_bcrypt_worker, [(hashed, seconds)] * workers)
    return sum(counts) / seconds


def read_during_storm(
    run: Run, server: servers.Server, tokens: Tokens, path: str, emails: list[str]
) -> tuple[LoadResult, LoadResult]:
    """Authenticated reads while 64 connections log in: (reads, logins)."""

    async def both() -> tuple[LoadResult, LoadResult]:
        storm = asyncio.to_thread(login, run, server, emails)
        await asyncio.sleep(1)  # the storm is on before the reads start
        reads = asyncio.to_thread(authenticated_read, run, server, tokens, path)
        storm_result, read_result = await asyncio.gather(storm, reads)
        return read_result, storm_result

    return asyncio.run(both())


def cleanup_under_load(
    run: Run, server: servers.Server, tokens: Tokens, path: str
) -> dict[str, Any]:
    """`pe-portal sessions cleanup` while authenticated reads run; read p99 windows during it."""
    started = time.monotonic()
    command = [sys.executable, "-m", "pe_portal.cli", "sessions", "cleanup"]
    log = (run.logs / "cleanup.log").open("wb")
    process = subprocess.Popen(command, env=run.db.env(), stdout=log, stderr=log)
    windows: list[LoadResult] = []
    while process.poll() is None:
        env = {"BENCH_PATH": path}
        windows.append(
            run_wrk(
                server.url,
                "read.lua",
                tokens.access,
                seconds=5,
                connections=run.connections,
                env=env,
            )
        )
    elapsed = time.monotonic() - started
    log.close()
    return {
        "cleanup_seconds": round(elapsed, 1),
        "exit_code": process.returncode,
        "remaining_expired": int(
            run.db.psql("SELECT count(*) FROM sessions WHERE expires_at < now()").strip()
        ),
        "read_p99_ms_windows": [round(window.p99_ms, 1) for window in windows],
        "read_rps_windows": [round(window.rps) for window in windows],
    }


def audit_logs(run: Run, server: servers.Server, tokens: Tokens) -> dict[str, Any]:
    """GET /users/me/audit-logs (first page) at 4 and at `connections` connections."""
    figures: dict[str, Any] = {}
    for connections in (4, run.connections):
        result = run_wrk(server.url, "read.lua", tokens.access, seconds=run.seconds,
                         connections=connections, env={"BENCH_PATH": AUDIT_PATH})  # fmt: skip
        figures[f"{connections} connections"] = result
    return figures


def audit_logs_plan(run: Run, tokens: Tokens) -> str:
    """The plan PostgreSQL chose for the endpoint's first page (auto_explain, one request)."""
    role = "pe_portal_app"
    run.db.psql(f"ALTER ROLE {role} SET session_preload_libraries = 'auto_explain'")
    run.db.psql(f"ALTER ROLE {role} SET auto_explain.log_min_duration = 0")
    log = run.db.cluster.log_file
    offset = log.stat().st_size
    try:
        with servers.portal(run.db.env(), 1, run.logs / "portal-explain.log") as server:
            headers = {"Authorization": f"Bearer {tokens.access[0]}"}
            httpx.get(server.url + AUDIT_PATH, headers=headers).raise_for_status()
    finally:
        run.db.psql(f"ALTER ROLE {role} RESET ALL")
    with log.open() as handle:
        handle.seek(offset)
        text = handle.read()
    plans = [chunk for chunk in text.split("LOG:  duration:") if "audit_logs" in chunk]
    return plans[-1].strip() if plans else "(no plan logged)"
