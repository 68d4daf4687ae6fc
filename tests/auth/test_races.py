"""Races on real commits: one refresh token many times at once, one e-mail registered many
times at once, a burst of wrong passwords against one account."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.security import hashing
from tests.auth.helpers import LOGIN, REFRESH, SESSIONS, audit_rows, scalar
from tests.factories import PASSWORD, login, register, unique_email

THRESHOLD = 10  # LOGIN_LOCKOUT_THRESHOLD's default
BURST = 200


async def test_parallel_refreshes_of_one_token_leave_one_successor(
    live_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    email = unique_email()
    await register(live_client, email)
    signed = await login(live_client, email)
    answers = await asyncio.gather(
        *(live_client.post(REFRESH, json={"refreshToken": signed.refresh_token}) for _ in range(50))
    )
    assert {a.status_code for a in answers} <= {200, 401}
    ok = [a.json() for a in answers if a.status_code == 200]
    assert ok  # at least the first one rotated
    [successor] = {body["refreshToken"] for body in ok}
    async with engine.connect() as db:
        assert await audit_rows(db, "TOKEN_REUSE_DETECTED", signed.user["id"]) == []
        assert len(await audit_rows(db, "TOKEN_REFRESH", signed.user["id"])) == 1
    renewed = await live_client.post(REFRESH, json={"refreshToken": successor})
    assert renewed.status_code == 200
    headers = {"Authorization": f"Bearer {renewed.json()['accessToken']}"}
    assert len((await live_client.get(SESSIONS, headers=headers)).json()) == 1


async def test_parallel_registrations_of_one_email_make_one_account(
    live_client: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    # Each registration hashes before it meets the others: all wait for their bcrypt turn
    # (shedding load with 503 has its own tests), so the race is decided by the database alone.
    monkeypatch.setattr(hashing.capacity(), "max_wait", 60.0)
    answers = await asyncio.gather(
        *(
            live_client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            for _ in range(20)
        )
    )
    assert Counter(a.status_code for a in answers) == Counter({201: 1, 409: 19})
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"email_taken"}
    async with engine.connect() as db:
        assert await scalar(db, "SELECT count(*) FROM users WHERE email = :e", e=email) == 1
        assert await scalar(db, "SELECT count(*) FROM user_profiles") == 1
        assert len(await audit_rows(db, "REGISTER")) == 1


async def test_a_burst_of_wrong_passwords_counts_exactly_the_threshold(
    live_client: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email()
    user = await register(live_client, email)
    # Every attempt waits for its bcrypt turn: shedding load with 503 has its own tests.
    monkeypatch.setattr(hashing.capacity(), "max_wait", 600.0)

    async def attempt(i: int) -> int:
        body = {"email": email, "password": f"wrong guess number {i}"}
        return (await live_client.post(LOGIN, json=body)).status_code

    statuses = Counter(await asyncio.gather(*(attempt(i) for i in range(BURST))))
    assert statuses == Counter({401: THRESHOLD, 429: BURST - THRESHOLD})
    async with engine.connect() as db:
        failed = await audit_rows(db, "LOGIN_FAILED", user["id"])
        reasons = Counter(row["details"]["reason"] for row in failed)
        assert reasons == Counter({"invalid_credentials": THRESHOLD, "locked": BURST - THRESHOLD})
        assert len(await audit_rows(db, "ACCOUNT_LOCKED", user["id"])) == 1
    right = await live_client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert right.status_code == 429
