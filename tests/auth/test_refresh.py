"""Refresh rotation on one session row, the grace window, reuse detection, sliding expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.auth import refresh
from pe_portal.clock import clock
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from tests.auth.helpers import REFRESH, SESSIONS, audit_rows, execute, scalar
from tests.factories import SignedIn, signed_in_user


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refreshToken": token})


async def _ok(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await _refresh(client, token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, str] = response.json()
    return body


def _headers(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def test_each_refresh_rotates_on_the_same_session(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    first = await _ok(client, signed.refresh_token)
    clock.advance(timedelta(seconds=1))
    second = await _ok(client, first["refreshToken"])
    tokens = {signed.refresh_token, first["refreshToken"], second["refreshToken"]}
    assert len(tokens) == 3
    assert len({signed.access_token, first["accessToken"], second["accessToken"]}) == 3
    assert (
        await scalar(
            db_session, "SELECT count(*) FROM sessions WHERE user_id = :id", id=signed.user["id"]
        )
        == 1
    )
    stored = await scalar(
        db_session, "SELECT refresh_token FROM sessions WHERE user_id = :id", id=signed.user["id"]
    )
    assert stored not in tokens
    assert len(stored) == 64
    assert len(await audit_rows(db_session, "TOKEN_REFRESH", user_id=signed.user["id"])) == 2


async def test_reuse_after_the_grace_window_revokes_the_session(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    successor = await _ok(client, signed.refresh_token)
    clock.advance(timedelta(seconds=11))
    reuse_before = REGISTRY.get_sample_value("pe_portal_token_reuse_total") or 0.0
    replay = await _refresh(client, signed.refresh_token)
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_reused"
    assert REGISTRY.get_sample_value("pe_portal_token_reuse_total") == reuse_before + 1
    [row] = await audit_rows(db_session, "TOKEN_REUSE_DETECTED", user_id=signed.user["id"])
    assert row["resource"] == "SESSION"
    # The thief's and the owner's tokens die with the session, access tokens included.
    for access in (signed.access_token, successor["accessToken"]):
        assert (await client.get(SESSIONS, headers=_headers(access))).status_code == 401
    assert (await _refresh(client, successor["refreshToken"])).json()["error"]["code"] == (
        "session_revoked"
    )


async def test_a_replay_inside_the_grace_window_gets_the_current_pair(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    first = await _ok(client, signed.refresh_token)
    clock.advance(timedelta(seconds=5))
    again = await _ok(client, signed.refresh_token)
    assert again["refreshToken"] == first["refreshToken"]
    assert (await client.get(SESSIONS, headers=_headers(again["accessToken"]))).status_code == 200
    assert await audit_rows(db_session, "TOKEN_REUSE_DETECTED", user_id=signed.user["id"]) == []
    await _ok(client, first["refreshToken"])  # the session lives on


async def test_an_older_generation_is_reuse_even_inside_the_window(
    client: httpx.AsyncClient,
) -> None:
    signed = await signed_in_user(client)
    first = await _ok(client, signed.refresh_token)
    await _ok(client, first["refreshToken"])
    response = await _refresh(client, signed.refresh_token)
    assert response.json()["error"]["code"] == "token_reused"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t.replace(".0.", ".7."),
        lambda t: "rt_" + "x" * 30,
        lambda t: t + "\n",
        lambda t: "😀" * 40,
    ],
)
async def test_forged_refresh_tokens_are_401_and_revoke_nothing(
    client: httpx.AsyncClient, mangle: object
) -> None:
    signed = await signed_in_user(client)
    assert callable(mangle)
    response = await _refresh(client, mangle(signed.refresh_token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    await _ok(client, signed.refresh_token)


async def test_inactive_account_cannot_refresh(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    await execute(
        db_session, "UPDATE users SET is_active = false WHERE id = :id", id=signed.user["id"]
    )
    response = await _refresh(client, signed.refresh_token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "account_inactive"
    assert await audit_rows(db_session, "TOKEN_REFRESH", user_id=signed.user["id"]) == []


async def test_a_refresh_racing_a_reactivation_rotates_once_and_is_audited(
    client: httpx.AsyncClient, app: FastAPI, db_session: AsyncSession, settings: Settings
) -> None:
    """The one-statement attempt finds the account inactive; by the locked re-read it is active
    again. The token is current, so it rotates there, like any refresh."""
    signed = await signed_in_user(client)
    user_id = signed.user["id"]
    await execute(db_session, "UPDATE users SET is_active = false WHERE id = :id", id=user_id)
    connections = app.state.driver_connections

    @asynccontextmanager
    async def reactivated_after_use() -> AsyncIterator[Any]:
        async with connections() as connection:
            yield connection
        await execute(db_session, "UPDATE users SET is_active = true WHERE id = :id", id=user_id)

    rotation = await refresh.rotate(
        app.state.sessionmaker, reactivated_after_use, presented=signed.refresh_token,
        context=RequestContext(), settings=settings,
    )  # fmt: skip
    assert not rotation.replayed
    await db_session.commit()
    assert len(await audit_rows(db_session, "TOKEN_REFRESH", user_id=user_id)) == 1
    await _ok(client, rotation.refresh_token.value)  # the successor is the live token
    reused = await _refresh(client, signed.refresh_token)
    assert reused.json()["error"]["code"] == "token_reused"


async def _expires_at(client: httpx.AsyncClient, signed: SignedIn, access: str) -> datetime:
    [row] = (await client.get(SESSIONS, headers=_headers(access))).json()
    return datetime.fromisoformat(row["expiresAt"])


async def test_expiry_slides_but_never_beyond_the_maximum_age(client: httpx.AsyncClient) -> None:
    signed = await signed_in_user(client)
    start = await _expires_at(client, signed, signed.access_token)
    created = start - timedelta(days=7)
    token = signed.refresh_token
    for _ in range(4):  # 6 days at a time: each refresh pushes expiry 7 days past "now"
        clock.advance(timedelta(days=6))
        pair = await _ok(client, token)
        token = pair["refreshToken"]
    capped = await _expires_at(client, signed, pair["accessToken"])
    assert capped - created == timedelta(days=30)
    clock.advance(timedelta(days=6, seconds=1))  # day 30 has passed
    response = await _refresh(client, token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"


async def test_an_idle_session_expires_after_the_refresh_ttl(client: httpx.AsyncClient) -> None:
    signed = await signed_in_user(client)
    clock.advance(timedelta(days=7, seconds=1))
    assert (await _refresh(client, signed.refresh_token)).status_code == 401


async def test_the_audit_trail_never_holds_passwords_or_tokens(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    first = await _ok(client, signed.refresh_token)
    clock.advance(timedelta(seconds=30))
    await _refresh(client, signed.refresh_token)  # reuse: revoked and audited
    await client.post("/api/v1/auth/login", json={"email": signed.email, "password": "wrong one!"})
    rows = await scalar(
        db_session,
        "SELECT string_agg(concat_ws('|', action, details::text, user_agent), ' ')"
        " FROM audit_logs WHERE user_id = :id",
        id=signed.user["id"],
    )
    assert "TOKEN_REUSE_DETECTED" in rows
    secrets = [signed.password, "wrong one!", signed.refresh_token, signed.access_token]
    secrets += [first["refreshToken"], first["accessToken"], signed.refresh_token.split(".")[-1]]
    assert not [secret for secret in secrets if secret in rows]
