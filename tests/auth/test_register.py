"""Registration: validated input, normalised e-mail, password policy, profile, audit."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PASSWORD, register, unique_email

URL = "/api/v1/auth/register"


async def test_register_returns_the_user_without_the_hash(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    response = await client.post(
        URL,
        json={"email": "  New.Investor@Example.COM ", "password": PASSWORD, "firstName": "Ada"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new.investor@example.com"
    assert body["firstName"] == "Ada"
    assert body["isActive"] is True
    assert body["isVerified"] is False
    assert "password" not in body
    assert len(body["id"]) == 25  # a CUID
    stored = (
        await db_session.execute(
            text("SELECT password FROM users WHERE id = :id"), {"id": body["id"]}
        )
    ).scalar_one()
    assert stored.startswith("$2b$12$")
    profile = (
        await db_session.execute(
            text("SELECT timezone, language FROM user_profiles WHERE user_id = :id"),
            {"id": body["id"]},
        )
    ).one()
    assert tuple(profile) == ("UTC", "en")
    audit = (
        await db_session.execute(
            text("SELECT action, resource FROM audit_logs WHERE user_id = :id"), {"id": body["id"]}
        )
    ).all()
    assert [tuple(row) for row in audit] == [("REGISTER", "USER")]


async def test_email_taken_is_409_whatever_the_case(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    response = await client.post(URL, json={"email": email.upper(), "password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password_too_short"),
        ("a" * 73, "password_too_long"),
        ("é" * 37, "password_too_long"),  # 37 characters but 74 bytes
        ("password1234", "password_too_common"),
        ("aaaaaaaaaaaaaaaa", "password_too_common"),
    ],
)
async def test_password_policy(client: httpx.AsyncClient, password: str, code: str) -> None:
    response = await client.post(URL, json={"email": unique_email(), "password": password})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


async def test_too_long_password_names_the_byte_limit(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"email": unique_email(), "password": "x" * 100})
    assert "72 bytes" in response.json()["error"]["message"]


async def test_passwords_are_not_trimmed(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email, password="  spaced secret phrase  ")
    ok = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "  spaced secret phrase  "}
    )
    trimmed = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "spaced secret phrase"}
    )
    assert (ok.status_code, trimmed.status_code) == (200, 401)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@b", "password": PASSWORD},
        {"email": 42, "password": PASSWORD},
        {"email": "x@example.com"},
        {"email": "x@example.com", "password": PASSWORD, "isActive": False},
        {"email": "x@example.com", "password": PASSWORD, "firstName": "a\x00b"},
        [],
    ],
)
async def test_bad_input_is_422_and_creates_nothing(
    client: httpx.AsyncClient, db_session: AsyncSession, body: object
) -> None:
    before = (await db_session.execute(text("SELECT count(*) FROM users"))).scalar_one()
    response = await client.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]
    after = (await db_session.execute(text("SELECT count(*) FROM users"))).scalar_one()
    assert after == before


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL, content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


async def test_unicode_email_is_accepted_and_normalised(client: httpx.AsyncClient) -> None:
    body = await register(client, "Zoë.Investor@Exämple.com")
    assert body["email"] == "zoë.investor@exämple.com"
