"""PostgreSQL killed (-9) under a load of writes: fast 503s, /ready 503, recovery without a
restart of the app, and nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import text

from pe_portal.config import Settings
from pe_portal.db.embedded import APP_ROLE, OWNER_ROLE, EmbeddedCluster, EmbeddedError
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls, deploy
from tests.conftest import make_scratch_dir
from tests.factories import PASSWORD, unique_email
from tests.robustness.served import serve, server_env

POOL_TIMEOUT_MS = 1500
# A request may wait for the pool and then for a connection attempt: both bounded by the pool
# timeout. Anything slower than this is a hang, which the client turns into a test failure.
REQUEST_BOUND = 4 * POOL_TIMEOUT_MS / 1000 + 5


@dataclass
class Ledger:
    """What the server acknowledged with a 2xx, and every status seen."""

    registered: list[str] = field(default_factory=list)
    login_sessions: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    down_statuses: list[int] = field(default_factory=list)
    down: bool = False


@dataclass
class Fault:
    cluster: EmbeddedCluster
    urls: DatabaseUrls
    home: Path


@pytest.fixture
async def own_cluster() -> AsyncIterator[Fault]:
    home = make_scratch_dir("pe-portal-fault-")
    cluster = EmbeddedCluster(home / "pgdata")
    cluster.start()
    port = cluster.running_port()
    assert port is not None
    urls = DatabaseUrls(cluster.url(port, APP_ROLE), cluster.url(port, OWNER_ROLE))
    await deploy(Settings(database_url=urls.app, database_migration_url=urls.migration,
                          _env_file=None), urls)  # fmt: skip
    try:
        yield Fault(cluster, urls, home)
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


async def _writer(client: httpx.AsyncClient, ledger: Ledger, stop: asyncio.Event) -> None:
    """Register then sign in, again and again, writing down what was acknowledged."""
    while not stop.is_set():
        email, was_down = unique_email("fault"), ledger.down
        body = {"email": email, "password": PASSWORD}
        response = await client.post("/api/v1/auth/register", json=body)
        _note(ledger, response.status_code, was_down)
        if response.status_code != 201:
            await asyncio.sleep(0.05)
            continue
        ledger.registered.append(email)
        response = await client.post("/api/v1/auth/login", json=body)
        _note(ledger, response.status_code, was_down)
        if response.status_code == 200:
            claims = jwt.decode(response.json()["accessToken"], options={"verify_signature": False})
            ledger.login_sessions.append(claims["sid"])


def _note(ledger: Ledger, status: int, was_down: bool) -> None:
    ledger.statuses.append(status)
    if was_down and ledger.down:
        ledger.down_statuses.append(status)


def _kill_postmaster(cluster: EmbeddedCluster) -> None:
    pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)


def _restart(cluster: EmbeddedCluster) -> None:
    """Start again on the same port once the orphaned backends have let go of shared memory."""
    deadline = time.monotonic() + 60
    while True:
        try:
            cluster.start()
            return
        except EmbeddedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


async def _wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        if (await client.get("/ready")).status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the service did not recover by itself")


async def test_killed_database_fails_fast_and_recovers_without_losing_acknowledged_writes(
    own_cluster: Fault,
) -> None:
    env = server_env(own_cluster.urls, own_cluster.home,
                     DATABASE_POOL_TIMEOUT=str(POOL_TIMEOUT_MS))  # fmt: skip
    port_before = own_cluster.cluster.running_port()
    with serve(env, own_cluster.home) as server:
        ledger, stop = Ledger(), asyncio.Event()
        async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_BOUND) as client:
            writers = [asyncio.create_task(_writer(client, ledger, stop)) for _ in range(6)]
            await asyncio.sleep(2)
            ledger.down = True
            await asyncio.to_thread(_kill_postmaster, own_cluster.cluster)
            await asyncio.sleep(4)
            ready_while_down = (await client.get("/ready")).status_code
            await asyncio.to_thread(_restart, own_cluster.cluster)
            ledger.down = False
            await _wait_ready(client)
            await asyncio.sleep(1)
            stop.set()
            await asyncio.gather(*writers)  # a hang past REQUEST_BOUND raises here
            after = await client.post("/api/v1/auth/login", json={
                "email": ledger.registered[-1], "password": PASSWORD})  # fmt: skip
        log = server.log_text()
    assert own_cluster.cluster.running_port() == port_before
    assert ready_while_down == 503
    assert 503 in ledger.down_statuses
    unexpected = [status for status in ledger.statuses if status >= 500 and status != 503]
    assert unexpected == [], _errors(log)  # "starting up" too is 503 (test_findings.py)
    assert "unhandled error" not in log, _errors(log)
    assert after.status_code == 200
    await _assert_acknowledged_writes_exist(own_cluster.urls, ledger)


def _errors(log: str) -> str:
    """The server's error lines, for the failure message."""
    return "\n".join(line for line in log.splitlines() if "rror" in line or " 500" in line)[-4000:]


async def _assert_acknowledged_writes_exist(urls: DatabaseUrls, ledger: Ledger) -> None:
    settings = Settings(database_url=urls.app, _env_file=None)
    engine = create_engine(settings, urls.migration, pool_size=1)
    try:
        async with engine.connect() as connection:
            emails = set((await connection.scalars(text("SELECT email FROM users"))).all())
            query = text("SELECT details->>'sessionId' FROM audit_logs WHERE action = 'LOGIN'")
            audited = set((await connection.scalars(query)).all())
    finally:
        await engine.dispose()
    assert ledger.registered
    assert ledger.login_sessions
    assert set(ledger.registered) <= emails
    assert set(ledger.login_sessions) <= audited
