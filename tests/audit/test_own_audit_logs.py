"""GET /users/me/audit-logs: own rows only, newest first, filters, keyset pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from pe_portal.clock import clock
from tests.factories import SignedIn, signed_in_user

URL = "/api/v1/users/me/audit-logs"


async def _profile_updates(client: httpx.AsyncClient, me: SignedIn, count: int) -> None:
    for index in range(count):
        response = await client.patch(
            "/api/v1/users/me/profile", headers=me.headers, json={"preferences": {"n": index}}
        )
        assert response.status_code == 200


async def _all_pages(
    client: httpx.AsyncClient, me: SignedIn, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(URL, headers=me.headers, params=query)).json()
        items.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            return items


async def test_own_rows_only_newest_first(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    await _profile_updates(client, other, 1)
    response = await client.get(URL, headers=me.headers)
    assert response.status_code == 200
    body = response.json()
    assert [item["action"] for item in body["items"]] == ["LOGIN", "REGISTER"]
    assert body["nextCursor"] is None
    first = body["items"][0]
    assert first["resource"] == "AUTH"
    assert first["userAgent"] == "pytest-device"
    assert first["createdAt"].endswith("Z") or first["createdAt"].endswith("+00:00")


async def test_pages_cover_every_row_once_in_order(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    await _profile_updates(client, me, 5)  # 7 rows with REGISTER and LOGIN
    whole = (await client.get(URL, headers=me.headers)).json()["items"]
    paged = await _all_pages(client, me, limit=2)
    assert [item["id"] for item in paged] == [item["id"] for item in whole]
    assert len(paged) == 7


async def test_filters_by_action_and_time(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    clock.advance(timedelta(minutes=5))  # well inside the access token's life
    await _profile_updates(client, me, 3)
    only = await _all_pages(client, me, action="PROFILE_UPDATED", limit=2)
    assert [item["action"] for item in only] == ["PROFILE_UPDATED"] * 3
    boundary = only[-1]["createdAt"]  # the oldest update
    since = (await client.get(URL, headers=me.headers, params={"since": boundary})).json()
    assert [item["action"] for item in since["items"]] == ["PROFILE_UPDATED"] * 3
    until = (await client.get(URL, headers=me.headers, params={"until": boundary})).json()
    assert [item["action"] for item in until["items"]] == ["LOGIN", "REGISTER"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "1767225600000"}, "cursor"),  # a time with no id
        ({"cursor": "123456789012345.abc"}, "cursor"),  # past the year 5138
        ({"cursor": "MjAyNi0wMS0wMQ"}, "cursor"),  # the old base64 shape
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"action": "NOT_AN_ACTION"}, "action"),
        ({"since": "yesterday"}, "since"),
        ({"until": "0.5"}, "until"),  # not read as Unix time
        ({"since": "1767225600"}, "since"),
    ],
)
async def test_bad_parameters_are_422_naming_them(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    me = await signed_in_user(client)
    response = await client.get(URL, headers=me.headers, params=params)
    assert response.status_code == 422, response.text
    named = [item["field"].removeprefix("query.") for item in response.json()["error"]["details"]]
    assert named == [field]


async def test_the_trail_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401


@pytest.mark.parametrize(
    ("params", "rows"),
    [
        ({"until": "0001-01-01T00:00:00+14:00"}, 0),  # before year 1 in UTC: before every row
        ({"since": "0001-01-01T00:00:00+14:00"}, 2),  # ... and so no bound at all
        ({"since": "9999-12-31T23:59:59-14:00"}, 0),  # after year 9999 in UTC: after every row
    ],
)
async def test_times_beyond_utc_are_the_nearest_bound(
    client: httpx.AsyncClient, params: dict[str, Any], rows: int
) -> None:
    me = await signed_in_user(client)  # REGISTER and LOGIN
    response = await client.get(URL, headers=me.headers, params=params)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == rows


async def test_q_searches_own_rows_by_user_agent_ip_and_words_of_the_details(
    client: httpx.AsyncClient,
) -> None:
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    await _profile_updates(client, me, 1)
    await _profile_updates(client, other, 1)
    by_agent = (await client.get(URL, headers=me.headers, params={"q": "pytest-dev"})).json()
    assert "LOGIN" in {item["action"] for item in by_agent["items"]}
    assert all("pytest-dev" in item["userAgent"] for item in by_agent["items"])
    words = (await client.get(URL, headers=me.headers, params={"q": "preferences"})).json()
    assert [item["action"] for item in words["items"]] == ["PROFILE_UPDATED"]
    nothing = (await client.get(URL, headers=me.headers, params={"q": "no-such-agent"})).json()
    assert nothing["items"] == []


@pytest.mark.parametrize("q", ["%", "_", "' OR 1=1 --", "\\", "a:*|!b"])
async def test_q_takes_sql_and_pattern_metacharacters_literally(
    client: httpx.AsyncClient, q: str
) -> None:
    me = await signed_in_user(client)
    response = await client.get(URL, headers=me.headers, params={"q": q})
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize("params", [{"q": "a\x00b"}, {"cursor": "\x00"}])
async def test_a_nul_in_the_address_is_a_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """PostgreSQL's text cannot hold a NUL: refused before any handler (a 500 once)."""
    me = await signed_in_user(client)
    response = await client.get(URL, headers=me.headers, params=params)
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["error"]["message"]


async def test_q_longer_than_its_documented_limit_is_a_422(client: httpx.AsyncClient) -> None:
    me = await signed_in_user(client)
    response = await client.get(URL, headers=me.headers, params={"q": "x" * 10_000})
    assert response.status_code == 422
    assert response.json()["error"]["code"]
