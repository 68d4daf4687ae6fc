"""Sessions across devices: the list, revoking one, logout and logout-all — at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock
from tests.auth.helpers import REFRESH, SESSIONS, audit_rows
from tests.factories import login, register, signed_in_user, unique_email


async def test_sessions_list_every_device_and_marks_the_current_one(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email()
    await register(client, email)
    laptop = await login(client, email, user_agent="Firefox on a laptop")
    clock.advance(timedelta(minutes=1))
    phone = await login(client, email, user_agent="Safari on a phone")
    response = await client.get(SESSIONS, headers=phone.headers)
    assert response.status_code == 200
    rows = response.json()
    assert [(r["userAgent"], r["current"]) for r in rows] == [
        ("Safari on a phone", True),
        ("Firefox on a laptop", False),
    ]
    for row in rows:
        assert row["ipAddress"] == "127.0.0.1"
        created, expires = (datetime.fromisoformat(row[k]) for k in ("createdAt", "expiresAt"))
        assert expires - created == timedelta(days=7)
        assert datetime.fromisoformat(row["lastUsedAt"]) >= created
    from_laptop = (await client.get(SESSIONS, headers=laptop.headers)).json()
    assert [r["current"] for r in from_laptop] == [False, True]


async def test_refresh_moves_last_used(client: httpx.AsyncClient) -> None:
    clock.freeze()
    signed = await signed_in_user(client)
    [before] = (await client.get(SESSIONS, headers=signed.headers)).json()
    clock.advance(timedelta(hours=1))
    pair = (await client.post(REFRESH, json={"refreshToken": signed.refresh_token})).json()
    headers = {"Authorization": f"Bearer {pair['accessToken']}"}
    [after] = (await client.get(SESSIONS, headers=headers)).json()
    moved = datetime.fromisoformat(after["lastUsedAt"]) - datetime.fromisoformat(
        before["lastUsedAt"]
    )
    assert moved == timedelta(hours=1)


async def test_revoking_one_device_ends_it_at_once(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email)
    laptop, phone = await login(client, email), await login(client, email)
    [laptop_row] = [
        r for r in (await client.get(SESSIONS, headers=phone.headers)).json() if not r["current"]
    ]
    response = await client.delete(f"{SESSIONS}/{laptop_row['id']}", headers=phone.headers)
    assert response.status_code == 204
    assert (await client.get(SESSIONS, headers=laptop.headers)).status_code == 401
    refresh = await client.post(REFRESH, json={"refreshToken": laptop.refresh_token})
    assert refresh.status_code == 401
    assert len((await client.get(SESSIONS, headers=phone.headers)).json()) == 1
    [row] = await audit_rows(db_session, "SESSION_REVOKED", user_id=phone.user["id"])
    assert row["details"]["sessionId"] == laptop_row["id"]


async def test_another_users_session_is_404_and_stays_alive(client: httpx.AsyncClient) -> None:
    mine, theirs = await signed_in_user(client), await signed_in_user(client)
    [their_row] = (await client.get(SESSIONS, headers=theirs.headers)).json()
    for session_id in (their_row["id"], "no-such-session"):
        response = await client.delete(f"{SESSIONS}/{session_id}", headers=mine.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "session_not_found"
    assert (await client.get(SESSIONS, headers=theirs.headers)).status_code == 200


async def test_logout_ends_this_session_only(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email)
    leaving, staying = await login(client, email), await login(client, email)
    assert (await client.post("/api/v1/auth/logout", headers=leaving.headers)).status_code == 204
    assert (await client.get(SESSIONS, headers=leaving.headers)).status_code == 401
    assert (
        await client.post(REFRESH, json={"refreshToken": leaving.refresh_token})
    ).status_code == 401
    assert (await client.get(SESSIONS, headers=staying.headers)).status_code == 200
    assert len(await audit_rows(db_session, "LOGOUT", user_id=leaving.user["id"])) == 1


async def test_logout_all_ends_every_session(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email)
    devices = [await login(client, email) for _ in range(3)]
    response = await client.post("/api/v1/auth/logout-all", headers=devices[0].headers)
    assert response.status_code == 200
    assert response.json() == {"sessionsRevoked": 3}
    for device in devices:
        assert (await client.get(SESSIONS, headers=device.headers)).status_code == 401
    [row] = await audit_rows(db_session, "LOGOUT_ALL", user_id=devices[0].user["id"])
    assert row["details"]["sessionsRevoked"] == 3


async def test_session_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/auth/logout")).status_code == 401
    assert (await client.post("/api/v1/auth/logout-all")).status_code == 401
    assert (await client.delete(f"{SESSIONS}/anything")).status_code == 401
