"""Brute force: lock-out from audited failures, for known and unknown e-mails alike."""

from __future__ import annotations

from datetime import timedelta

import httpx
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock, utcnow
from tests.auth.helpers import LOGIN, audit_rows
from tests.factories import PASSWORD, login, register, unique_email

THRESHOLD = 10  # LOGIN_LOCKOUT_THRESHOLD's default
WINDOW = 900  # LOGIN_LOCKOUT_WINDOW's default


async def _attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


async def _fail_until_locked(client: httpx.AsyncClient, email: str) -> None:
    for _ in range(THRESHOLD):
        assert (await _attempt(client, email, "a wrong guess here")).status_code == 401


def _counter(name: str) -> float:
    return REGISTRY.get_sample_value(f"pe_portal_{name}_total") or 0.0


async def test_the_threshold_locks_even_the_right_password(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    user = await register(client, email)
    failures_before, lockouts_before = _counter("login_failures"), _counter("lockouts")
    await _fail_until_locked(client, email)
    for password in (PASSWORD, "another wrong guess"):
        response = await _attempt(client, email, password)
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "account_locked"
        assert 0 < int(response.headers["retry-after"]) <= WINDOW
    [locked] = await audit_rows(db_session, "ACCOUNT_LOCKED", user_id=user["id"])
    assert locked["details"]["lockSeconds"] == WINDOW
    reasons = [
        r["details"]["reason"] for r in await audit_rows(db_session, "LOGIN_FAILED", user["id"])
    ]
    assert reasons == ["invalid_credentials"] * THRESHOLD + ["locked", "locked"]
    assert _counter("login_failures") - failures_before == THRESHOLD + 2
    assert _counter("lockouts") - lockouts_before == 1


async def test_the_lock_lifts_by_itself_and_attempts_do_not_extend_it(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email()
    await register(client, email)
    await _fail_until_locked(client, email)
    clock.advance(timedelta(seconds=WINDOW - 60))
    assert (await _attempt(client, email, PASSWORD)).status_code == 429  # audited, not counted
    clock.advance(timedelta(seconds=61))
    await login(client, email)


async def test_failures_age_out_of_the_window(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    for _ in range(THRESHOLD - 1):
        await _attempt(client, email, "a wrong guess here")
    clock.advance(timedelta(seconds=WINDOW + 1))
    assert (await _attempt(client, email, "a wrong guess here")).status_code == 401
    await login(client, email)  # one recent failure only: not locked


async def test_unknown_emails_are_throttled_identically(client: httpx.AsyncClient) -> None:
    clock.freeze(utcnow().replace(microsecond=0))  # both locks start at the same instant
    known, unknown = unique_email(), unique_email()
    await register(client, known)
    await _fail_until_locked(client, known)
    await _fail_until_locked(client, unknown)
    answers = [await _attempt(client, email, PASSWORD) for email in (known, unknown)]
    assert {a.status_code for a in answers} == {429}
    assert answers[0].json()["error"]["code"] == answers[1].json()["error"]["code"]
    assert answers[0].json()["error"]["message"] == answers[1].json()["error"]["message"]
    assert {a.headers["retry-after"] for a in answers} == {str(WINDOW)}


async def test_a_lock_is_per_email(client: httpx.AsyncClient) -> None:
    locked, other = unique_email(), unique_email()
    await register(client, locked)
    await register(client, other)
    await _fail_until_locked(client, locked)
    await login(client, other)


async def test_the_lock_follows_the_normalised_email(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    await _fail_until_locked(client, f" {email.upper()}")
    assert (await _attempt(client, email, PASSWORD)).status_code == 429


async def test_failed_attempts_never_store_the_password_or_email(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await _attempt(client, email, "my secret guess 123")
    [row] = (await audit_rows(db_session, "LOGIN_FAILED"))[-1:]
    assert "my secret guess" not in str(row)
    assert email not in str(row)
    assert len(row["details"]["emailDigest"]) == 64
