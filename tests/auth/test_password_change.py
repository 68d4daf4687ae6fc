"""Password change: the current password is required; other sessions end; audited."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.auth.helpers import LOGIN, SESSIONS, audit_rows
from tests.factories import PASSWORD, login, register, unique_email

URL = "/api/v1/auth/password/change"
NEW = "a completely new passphrase"


async def test_change_revokes_other_sessions_but_not_this_one(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email)
    here, elsewhere = await login(client, email), await login(client, email)
    response = await client.post(
        URL, json={"currentPassword": PASSWORD, "newPassword": NEW}, headers=here.headers
    )
    assert response.status_code == 200
    assert response.json() == {"otherSessionsRevoked": 1}
    assert (await client.get(SESSIONS, headers=here.headers)).status_code == 200
    assert (await client.get(SESSIONS, headers=elsewhere.headers)).status_code == 401
    old = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    await login(client, email, NEW)
    [row] = await audit_rows(db_session, "PASSWORD_CHANGED", user_id=here.user["id"])
    assert row["details"] == {"sessionsRevoked": 1}
    assert PASSWORD not in str(row)
    assert NEW not in str(row)


async def test_a_wrong_current_password_changes_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    await register(client, email)
    here, elsewhere = await login(client, email), await login(client, email)
    response = await client.post(
        URL, json={"currentPassword": "not my password", "newPassword": NEW}, headers=here.headers
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_password"
    assert (await client.get(SESSIONS, headers=elsewhere.headers)).status_code == 200
    await login(client, email)
    assert await audit_rows(db_session, "PASSWORD_CHANGED", user_id=here.user["id"]) == []


async def test_the_new_password_follows_the_policy(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    here = await login(client, email)
    for new, code in [("short", "password_too_short"), ("x" * 73, "password_too_long")]:
        response = await client.post(
            URL, json={"currentPassword": PASSWORD, "newPassword": new}, headers=here.headers
        )
        assert (response.status_code, response.json()["error"]["code"]) == (422, code)
    await login(client, email)


async def test_change_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"currentPassword": PASSWORD, "newPassword": NEW})
    assert response.status_code == 401
