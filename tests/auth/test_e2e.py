"""The real server process: a whole sign-in life cycle, and bcrypt never stalling the loop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from pe_portal.config import Settings
from pe_portal.security import hashing
from tests.auth.helpers import LOGIN, REFRESH, SESSIONS
from tests.factories import PASSWORD, unique_email

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up")


@pytest.fixture
def server(settings: Settings, tmp_path: Path, committed: None) -> Iterator[str]:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")},
        "DATABASE_URL": settings.database_url or "",
        "DATABASE_MIGRATION_URL": settings.database_migration_url or "",
        "JWT_KEYS_DIR": str(tmp_path / "keys"),
        "MAIL_DIR": str(tmp_path / "mail"),
        "SIGN_IN_CPU_SHARE": str(settings.sign_in_cpu_share),  # the turns the tests count on
    }
    command = [sys.executable, "-m", "pe_portal.cli", "serve", "--port", str(port), "--no-migrate"]
    with (tmp_path / "server.log").open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            command, stdout=log, stderr=log, env=env, cwd=tmp_path, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        yield client


async def _register(http: httpx.AsyncClient) -> str:
    email = unique_email("e2e")
    response = await http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return email


async def test_register_login_list_refresh_logout(http: httpx.AsyncClient) -> None:
    email = await _register(http)
    signed = await http.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert signed.status_code == 200
    headers = {"Authorization": f"Bearer {signed.json()['accessToken']}"}
    [session] = (await http.get(SESSIONS, headers=headers)).json()
    assert session["current"] is True
    assert session["ipAddress"] == "127.0.0.1"
    renewed = await http.post(REFRESH, json={"refreshToken": signed.json()["refreshToken"]})
    assert renewed.status_code == 200
    headers = {"Authorization": f"Bearer {renewed.json()['accessToken']}"}
    assert (await http.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await http.get(SESSIONS, headers=headers)).status_code == 401
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert jwks["keys"]


async def test_health_answers_while_logins_hash(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    # As many as the server admits at once (two per hashing thread): none waits for a turn, so
    # none can be refused with 503 on a slow machine; each still hashes off the event loop.
    share, cores = settings.sign_in_cpu_share, os.cpu_count() or 1
    turns = hashing.plan(share=share, cores=cores, workers=1).turns
    emails = [await _register(http) for _ in range(turns)]
    logins = [
        asyncio.create_task(http.post(LOGIN, json={"email": email, "password": PASSWORD}))
        for email in emails
    ]
    health_answers = 0
    while not any(task.done() for task in logins):
        assert (await http.get("/health")).status_code == 200
        health_answers += 1
    # Several health checks came back while every login was still hashing: the loop is free.
    assert health_answers >= 3
    assert [(await task).status_code for task in logins] == [200] * turns
