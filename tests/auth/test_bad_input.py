"""Bad input on every auth endpoint: a 4xx in the one error shape, never a 500, nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.auth.helpers import LOGIN, REFRESH, scalar
from tests.factories import PASSWORD, signed_in_user

HUGE = "x" * 20_000
CHANGE = "/api/v1/auth/password/change"

BODIES: list[tuple[str, Any]] = [
    (LOGIN, {"email": 42, "password": PASSWORD}),
    (LOGIN, {"email": "a@example.com", "password": ["list"]}),
    (LOGIN, {"email": "a@example.com"}),
    (LOGIN, {"password": PASSWORD}),
    (LOGIN, {}),
    (LOGIN, None),
    (LOGIN, "just a string"),
    (LOGIN, {"email": HUGE + "@example.com", "password": PASSWORD}),
    (LOGIN, {"email": "a@example.com", "password": HUGE}),
    (LOGIN, {"email": "a@example.com", "password": ""}),
    (LOGIN, {"email": "a@example.com", "password": PASSWORD, "extra": 1}),
    (REFRESH, {"refreshToken": 12}),
    (REFRESH, {"refreshToken": ""}),
    (REFRESH, {"refreshToken": HUGE}),
    (REFRESH, {}),
    ("/api/v1/auth/register", {"email": HUGE, "password": PASSWORD}),
    ("/api/v1/auth/register", {"email": " a @example.com", "password": PASSWORD}),
    ("/api/v1/auth/register", {"email": "a\x00@example.com", "password": PASSWORD}),
    ("/api/v1/auth/register", {"email": "\u200ba@example.com", "password": PASSWORD}),
    ("/api/v1/auth/register", {"email": "a@example.com", "password": PASSWORD, "firstName": 5}),
    ("/api/v1/auth/register", {"email": "a@example.com", "password": PASSWORD, "lastName": HUGE}),
]


async def _counts(db: AsyncSession) -> tuple[int, int]:
    return (
        await scalar(db, "SELECT count(*) FROM users"),
        await scalar(db, "SELECT count(*) FROM sessions"),
    )


def _assert_error_shape(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)


@pytest.mark.parametrize(("url", "body"), BODIES)
async def test_bad_bodies_are_4xx_and_write_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, url: str, body: Any
) -> None:
    before = await _counts(db_session)
    audit_before = await scalar(db_session, "SELECT count(*) FROM audit_logs")
    response = await client.post(url, json=body)
    _assert_error_shape(response)
    assert await _counts(db_session) == before
    if response.status_code == 422:
        assert await scalar(db_session, "SELECT count(*) FROM audit_logs") == audit_before


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "a@b",
        "  ",
        "a\x00b@example.com",
        "a\tb@example.com",
        "😀@😀",
        "a@@example.com",
    ],
)
async def test_malformed_emails_at_login_fail_like_any_wrong_credentials(
    client: httpx.AsyncClient, email: str
) -> None:
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"email": ', "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b"email=a&password=b", "application/x-www-form-urlencoded", 415),
        (b"{}", "text/plain", 415),
    ],
)
async def test_unparseable_bodies(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int
) -> None:
    response = await client.post(LOGIN, content=content, headers={"content-type": content_type})
    assert response.status_code == status
    _assert_error_shape(response)


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = {"email": "a@example.com", "password": "x" * 70_000}
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 413
    _assert_error_shape(response)


# (A NUL byte cannot reach us through uvicorn's parser; web/deps.py does not strip it yet.)
@pytest.mark.parametrize("user_agent", ["agent\x01with\x7fcontrols\ttab", "é" * 600])
async def test_odd_user_agents_are_stored_safely(
    client: httpx.AsyncClient, user_agent: str
) -> None:
    signed = await signed_in_user(client)
    response = await client.post(
        LOGIN,
        json={"email": signed.email, "password": PASSWORD},
        headers=[(b"User-Agent", user_agent.encode("utf-8"))],
    )
    assert response.status_code == 200, response.text


async def test_bad_password_change_bodies(client: httpx.AsyncClient) -> None:
    signed = await signed_in_user(client)
    for body in ({}, {"currentPassword": PASSWORD}, {"currentPassword": 1, "newPassword": 2}):
        response = await client.post(CHANGE, json=body, headers=signed.headers)
        assert response.status_code == 422
        _assert_error_shape(response)
    response = await client.post(
        CHANGE, json={"currentPassword": "y" * 100, "newPassword": PASSWORD}, headers=signed.headers
    )
    assert response.json()["error"]["code"] == "password_too_long"
