"""Deleting one's account (password required) and exporting everything held about it."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.service import email_digest
from tests.factories import login, signed_in_user

URL = "/api/v1/users/me"


async def _count(db_session: AsyncSession, sql: str, user_id: str) -> int:
    return int((await db_session.execute(text(sql), {"id": user_id})).scalar_one())


async def test_a_wrong_password_deletes_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client)
    response = await client.request(
        "DELETE", URL, headers=me.headers, json={"password": "not my password at all"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_password"
    assert (await client.get(URL, headers=me.headers)).status_code == 200


async def test_deletion_needs_the_password_in_the_body(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    response = await client.request("DELETE", URL, headers=me.headers)
    assert response.status_code == 422
    assert (await client.get(URL, headers=me.headers)).status_code == 200


async def test_deletion_cascades_ends_the_token_and_leaves_a_system_row(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client)
    user_id = me.user["id"]
    response = await client.request(
        "DELETE", URL, headers=me.headers, json={"password": me.password}
    )
    assert response.status_code == 204
    assert (await client.get(URL, headers=me.headers)).status_code == 401
    for sql in (
        "SELECT count(*) FROM users WHERE id = :id",
        "SELECT count(*) FROM user_profiles WHERE user_id = :id",
        "SELECT count(*) FROM sessions WHERE user_id = :id",
    ):
        assert await _count(db_session, sql, user_id) == 0
    assert (
        await _count(db_session, "SELECT count(*) FROM audit_logs WHERE user_id = :id", user_id)
        == 0
    )
    row = (
        await db_session.execute(
            text(
                "SELECT user_id, details FROM audit_logs WHERE action = 'USER_DELETED'"
                " AND details->>'deletedUserId' = :id"
            ),
            {"id": user_id},
        )
    ).one()
    assert row.user_id is None
    assert row.details["emailDigest"] == email_digest(me.email)
    assert me.email not in str(row.details)
    refused = await client.post(
        "/api/v1/auth/login", json={"email": me.email, "password": me.password}
    )
    assert refused.status_code == 401


async def test_export_is_one_document_with_no_secrets(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client, firstName="Ada")
    await login(client, me.email, user_agent="second-device")
    await client.patch(f"{URL}/profile", headers=me.headers, json={"timezone": "Asia/Tokyo"})
    response = await client.get(f"{URL}/export", headers=me.headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    document = response.json()
    assert document["account"]["firstName"] == "Ada"
    assert document["profile"]["timezone"] == "Asia/Tokyo"
    assert {s["userAgent"] for s in document["sessions"]} == {"pytest-device", "second-device"}
    actions = [entry["action"] for entry in document["auditLogs"]]
    assert actions == ["PROFILE_UPDATED", "LOGIN", "LOGIN", "REGISTER"]
    digests = await db_session.execute(
        text(
            "SELECT refresh_token, (SELECT password FROM users WHERE id = :id) FROM sessions WHERE user_id = :id"
        ),
        {"id": me.user["id"]},
    )
    for refresh_digest, password_hash in digests:
        assert refresh_digest not in response.text
        assert password_hash not in response.text
    assert me.refresh_token not in response.text
