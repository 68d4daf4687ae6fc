"""The profile: validated and normalised fields, null clears, bad input changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import SignedIn, signed_in_user

URL = "/api/v1/users/me/profile"


async def _audit_details(db_session: AsyncSession, user_id: str) -> list[Any]:
    rows = await db_session.execute(
        text(
            "SELECT details FROM audit_logs WHERE user_id = :id AND action = 'PROFILE_UPDATED'"
            " ORDER BY created_at"
        ),
        {"id": user_id},
    )
    return [row[0] for row in rows]


async def test_a_new_account_has_the_default_profile(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    response = await client.get(URL, headers=me.headers)
    assert response.status_code == 200
    assert response.json() == {
        "phone": None,
        "avatar": None,
        "timezone": "UTC",
        "language": "en",
        "preferences": None,
    }


async def test_fields_are_stored_normalised_and_audited_by_name(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client)
    response = await client.patch(
        URL,
        headers=me.headers,
        json={
            "phone": "+44 20 7946 0958",
            "avatar": "https://cdn.example.com/a/ada.png?size=64",
            "timezone": "europe/paris",
            "language": "en-gb",
            "preferences": {"theme": "dark", "digest": {"weekly": True, "day": 1}},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "phone": "+442079460958",
        "avatar": "https://cdn.example.com/a/ada.png?size=64",
        "timezone": "Europe/Paris",
        "language": "en-GB",
        "preferences": {"theme": "dark", "digest": {"weekly": True, "day": 1}},
    }
    assert (await client.get(URL, headers=me.headers)).json() == response.json()
    details = await _audit_details(db_session, me.user["id"])
    assert details == [{"fields": ["phone", "avatar", "timezone", "language", "preferences"]}]
    assert "7946" not in str(details)  # names of fields, never the personal values


async def test_only_fields_sent_change_and_null_clears(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client)
    await client.patch(
        URL, headers=me.headers, json={"phone": "+33 1 23 45 67 89", "preferences": {"a": 1}}
    )
    response = await client.patch(URL, headers=me.headers, json={"phone": None})
    assert response.json()["phone"] is None
    assert response.json()["preferences"] == {"a": 1}
    details = await _audit_details(db_session, me.user["id"])
    assert details[-1] == {"fields": ["phone"]}


async def test_an_unchanged_value_is_not_audited(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    me = await signed_in_user(client)
    response = await client.patch(URL, headers=me.headers, json={"timezone": "UTC"})
    assert response.status_code == 200
    assert await _audit_details(db_session, me.user["id"]) == []


DEEP: dict[str, Any] = {"level": 1}
for _ in range(8):
    DEEP = {"next": DEEP}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", 33123456789),
        ("phone", "not a number"),
        ("phone", "0123456789"),  # national format: no country to read it in
        ("phone", "+1 555"),
        ("phone", "+33 1 23 45 67 89\x00"),
        ("phone", "+" + "1" * 100),
        ("avatar", "javascript:alert(1)"),
        ("avatar", "data:image/png;base64,iVBORw0KGgo="),
        ("avatar", "http://cdn.example.com/a.png"),
        ("avatar", "https://"),
        ("avatar", "https://user:secret@cdn.example.com/a.png"),
        ("avatar", "https://cdn.example.com/a b.png"),
        ("avatar", "https://cdn.example.com/" + "a" * 3000),
        ("avatar", "/relative/a.png"),
        ("avatar", ["https://cdn.example.com/a.png"]),
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", ""),
        ("timezone", None),
        ("timezone", "localtime"),
        ("timezone", 1),
        ("language", "xx-yy"),
        ("language", "e"),
        ("language", ""),
        ("language", None),
        ("language", "en-" + "a" * 40),
        ("language", "en\u200b"),
        ("preferences", ["a", "b"]),
        ("preferences", "dark"),
        ("preferences", DEEP),
        ("preferences", {"blob": "x" * (16 * 1024)}),
        ("preferences", {"note": "a\x00b"}),
        ("preferences", {"k\x00": 1}),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, field: str, value: object
) -> None:
    me = await signed_in_user(client)
    before = (await client.get(URL, headers=me.headers)).json()
    body = {"timezone": "Europe/Paris", field: value} if field != "timezone" else {field: value}
    response = await client.patch(URL, headers=me.headers, json=body)
    assert response.status_code == 422, response.text
    fields = [item["field"].split(".")[0] for item in response.json()["error"]["details"]]
    assert fields == [field]
    assert (await client.get(URL, headers=me.headers)).json() == before
    assert await _audit_details(db_session, me.user["id"]) == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"preferences": {"ratio": NaN}}', "preferences"),
        (b'{"preferences": {"ratio": Infinity}}', "preferences"),
        (b'{"preferences": {"name": "\\ud800"}}', "preferences"),
        (b'{"avatar": "https://cdn.example.com/\\udfff.png"}', "avatar"),
        (b'{"phone": "+33\\ud83d"}', "phone"),
    ],
)
async def test_json_postgres_cannot_store_is_refused(
    client: httpx.AsyncClient, raw: bytes, field: str
) -> None:
    me = await signed_in_user(client)
    headers = {**me.headers, "Content-Type": "application/json"}
    response = await client.patch(URL, headers=headers, content=raw)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_preferences_just_under_the_caps_are_accepted(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    nested: dict[str, Any] = {"leaf": True}
    for _ in range(6):  # with `big` around it: eight objects deep
        nested = {"n": nested}
    big = {"blob": "x" * (16 * 1024 - 100), "n": nested}  # 16 349 bytes as JSON
    response = await client.patch(URL, headers=me.headers, json={"preferences": big})
    assert response.status_code == 200, response.text


async def test_extra_fields_are_refused(client: httpx.AsyncClient) -> None:
    me: SignedIn = await signed_in_user(client)
    response = await client.patch(URL, headers=me.headers, json={"userId": "someone-else"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "userId"


async def test_the_profile_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.patch(URL, json={"timezone": "UTC"})).status_code == 401
