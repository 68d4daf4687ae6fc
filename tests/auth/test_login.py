"""Sign-in over JSON: tokens, one generic failure, last_login, hash upgrades and imports."""

from __future__ import annotations

import bcrypt
import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from tests.auth.helpers import LOGIN, audit_rows, execute, scalar
from tests.factories import PASSWORD, login, register, signed_in_user, unique_email


async def test_login_returns_a_token_pair_and_the_user(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email, firstName="Ada")
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == 900
    assert body["refreshToken"].startswith("rt_")
    assert body["accessToken"].count(".") == 2
    assert body["user"]["email"] == email
    assert body["user"]["firstName"] == "Ada"
    assert "password" not in body["user"]


async def test_login_sets_last_login_and_is_audited(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    user = await register(client, email)
    assert user["lastLogin"] is None
    logins_before = REGISTRY.get_sample_value("pe_portal_logins_total") or 0.0
    signed = await login(client, email, user_agent="Firefox/128")
    assert REGISTRY.get_sample_value("pe_portal_logins_total") == logins_before + 1
    assert signed.user["lastLogin"] is not None
    stored = await scalar(db_session, "SELECT last_login FROM users WHERE id = :id", id=user["id"])
    assert stored is not None
    [row] = await audit_rows(db_session, "LOGIN", user_id=user["id"])
    assert (row["resource"], row["user_agent"]) == ("AUTH", "Firefox/128")
    assert row["ip_address"] == "127.0.0.1"


async def test_email_is_matched_case_and_space_insensitively(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    response = await client.post(LOGIN, json={"email": f"  {email.upper()} ", "password": PASSWORD})
    assert response.status_code == 200


async def _failure(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 401
    return response


async def test_one_generic_failure_for_unknown_wrong_and_inactive(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    known, inactive = unique_email(), unique_email()
    await register(client, known)
    user = await register(client, inactive)
    await execute(db_session, "UPDATE users SET is_active = false WHERE id = :id", id=user["id"])
    answers = [
        await _failure(client, unique_email(), PASSWORD),
        await _failure(client, known, "not the right password"),
        await _failure(client, inactive, PASSWORD),
    ]
    bodies = {(r.text, r.headers.get("www-authenticate")) for r in answers}
    assert len(bodies) == 1
    assert answers[0].json()["error"]["code"] == "invalid_credentials"
    reasons = [row["details"]["reason"] for row in await audit_rows(db_session, "LOGIN_FAILED")]
    assert reasons[-3:] == ["invalid_credentials", "invalid_credentials", "inactive"]


async def test_login_refuses_an_over_long_password_by_name(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, json={"email": unique_email(), "password": "p" * 73})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "password_too_long"


async def _set_hash(db: AsyncSession, user_id: str, hashed: str) -> None:
    await execute(db, "UPDATE users SET password = :h WHERE id = :id", h=hashed, id=user_id)


async def test_a_lower_cost_hash_is_upgraded_on_login(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    user = await register(client, email)
    weak = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    await _set_hash(db_session, user["id"], weak)
    await login(client, email)
    stored = await scalar(db_session, "SELECT password FROM users WHERE id = :id", id=user["id"])
    assert stored.startswith("$2b$12$")
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    await login(client, email)  # the upgraded hash verifies too


async def test_a_wrong_password_does_not_upgrade_the_hash(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    user = await register(client, email)
    weak = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    await _set_hash(db_session, user["id"], weak)
    await _failure(client, email, "something else entirely")
    assert (
        await scalar(db_session, "SELECT password FROM users WHERE id = :id", id=user["id"]) == weak
    )


@pytest.mark.parametrize("prefix", ["$2a$", "$2y$"])
async def test_imported_hashes_verify_and_are_upgraded(
    client: httpx.AsyncClient, db_session: AsyncSession, prefix: str
) -> None:
    email = unique_email()
    user = await register(client, email)
    imported = prefix + bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()[4:]
    await _set_hash(db_session, user["id"], imported)
    await _failure(client, email, "not the imported password")
    await login(client, email)
    stored = await scalar(db_session, "SELECT password FROM users WHERE id = :id", id=user["id"])
    assert stored.startswith("$2b$12$")


async def test_a_corrupt_stored_hash_fails_like_a_wrong_password(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    await _set_hash(db_session, signed.user["id"], "$2b$12$not-a-real-hash")
    response = await _failure(client, signed.email, PASSWORD)
    assert response.json()["error"]["code"] == "invalid_credentials"
