"""Under a sign-in storm: refused at once when bcrypt is saturated, and hashing yields the CPU."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.security import passwords
from tests.auth.helpers import LOGIN, audit_rows
from tests.factories import PASSWORD, register, unique_email


@contextlib.asynccontextmanager
async def _all_turns_taken() -> AsyncIterator[None]:
    """Every bcrypt turn of this process held by other (idle) sign-ins until the block ends."""
    release = asyncio.Event()
    holding = asyncio.Semaphore(0)

    async def hold() -> None:
        async with passwords.admitted():
            holding.release()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(passwords._SLOTS)]
    for _ in holders:
        await holding.acquire()
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*holders)


async def test_a_sign_in_that_cannot_get_a_turn_is_refused_and_records_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    await register(client, email)
    monkeypatch.setattr(passwords, "_MAX_WAIT_SECONDS", 0.05)

    async with _all_turns_taken():
        response = await client.post(LOGIN, json={"email": email, "password": "wrong!"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "busy"
    assert response.headers["retry-after"] == "1"
    # Not an attempt: it neither counts toward a lock-out nor leaves an audit row.
    assert await audit_rows(db_session, "LOGIN_FAILED") == []


async def test_a_waiting_sign_in_gets_its_turn(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)

    async with _all_turns_taken():
        waiting = asyncio.create_task(
            client.post(LOGIN, json={"email": email, "password": PASSWORD})
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
    assert (await waiting).status_code == 200


async def test_each_sign_in_gives_its_turn_back(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)

    wrong = await client.post(LOGIN, json={"email": email, "password": "wrong " + PASSWORD})
    unknown = await client.post(LOGIN, json={"email": unique_email(), "password": PASSWORD})
    right = await client.post(LOGIN, json={"email": email, "password": PASSWORD})

    assert [wrong.status_code, unknown.status_code, right.status_code] == [401, 401, 200]
    async with asyncio.timeout(1), _all_turns_taken():  # every turn is free again
        pass


def _nice(native_id: int) -> int:
    # /proc/<pid>/task/<tid>/stat: the 19th field is the thread's nice value.
    stat = Path(f"/proc/{os.getpid()}/task/{native_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


async def test_hashing_runs_at_the_lowest_cpu_priority() -> None:
    before = _nice(threading.get_native_id())
    await passwords.hash_password("a long enough passphrase")

    hashing = [t for t in threading.enumerate() if t.name.startswith("bcrypt")]
    assert hashing
    assert {_nice(t.native_id or 0) for t in hashing} == {19}
    assert _nice(threading.get_native_id()) == before  # the event loop keeps its priority
