"""The account: read it, change the names; nothing else is settable by its owner."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import signed_in_user

URL = "/api/v1/users/me"


async def _updates(db_session: AsyncSession, user_id: str) -> list[object]:
    rows = await db_session.execute(
        text("SELECT details FROM audit_logs WHERE user_id = :id AND action = 'USER_UPDATED'"),
        {"id": user_id},
    )
    return [row[0] for row in rows]


async def test_me_is_the_account_without_the_hash(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client, firstName="Ada")
    response = await client.get(URL, headers=me.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == me.email
    assert body["firstName"] == "Ada"
    assert "password" not in body


async def test_names_change_and_the_change_is_audited(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client, firstName="Ada", lastName="Byron")
    response = await client.patch(
        URL, headers=me.headers, json={"firstName": "  Augusta ", "lastName": "Byron"}
    )
    assert response.status_code == 200
    assert (response.json()["firstName"], response.json()["lastName"]) == ("Augusta", "Byron")
    assert await _updates(db_session, me.user["id"]) == [{"fields": ["firstName"]}]
    cleared = await client.patch(URL, headers=me.headers, json={"lastName": None})
    assert cleared.json()["lastName"] is None
    assert cleared.json()["firstName"] == "Augusta"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"isActive": False}, "isActive"),
        ({"isVerified": True}, "isVerified"),
        ({"email": "other@example.com"}, "email"),
        ({"password": "a new password 123"}, "password"),
        ({"firstName": "a\x00b"}, "firstName"),
        ({"firstName": "tab\there"}, "firstName"),
        ({"lastName": "x" * 101}, "lastName"),
        ({"lastName": 42}, "lastName"),
    ],
)
async def test_bad_or_forbidden_fields_are_422_and_change_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, body: dict[str, object], field: str
) -> None:
    me = await signed_in_user(client, firstName="Ada")
    before = (await client.get(URL, headers=me.headers)).json()
    response = await client.patch(URL, headers=me.headers, json=body)
    assert response.status_code == 422, response.text
    assert [item["field"] for item in response.json()["error"]["details"]] == [field]
    assert (await client.get(URL, headers=me.headers)).json() == before
    assert await _updates(db_session, me.user["id"]) == []


async def test_me_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.patch(URL, json={"firstName": "X"})).status_code == 401
