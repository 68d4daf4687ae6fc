"""The OAuth 2.0 token endpoint (RFC 6749): both grants, RFC-shaped errors, a real client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock
from tests.auth.helpers import SESSIONS, TOKEN, audit_rows
from tests.factories import PASSWORD, register, unique_email


async def _token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post(TOKEN, data=form)


def _assert_rfc_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert isinstance(response.json()["error_description"], str)
    assert response.headers["cache-control"] == "no-store"


async def test_password_then_refresh_grant(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    response = await _token(client, grant_type="password", username=email, password=PASSWORD)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get(SESSIONS, headers=headers)).status_code == 200
    renewed = await _token(client, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != body["refresh_token"]


async def test_wrong_credentials_are_invalid_grant_and_still_audited(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    email = unique_email()
    user = await register(client, email)
    response = await _token(client, grant_type="password", username=email, password="nope nope")
    _assert_rfc_error(response, 400, "invalid_grant")
    [row] = await audit_rows(db_session, "LOGIN_FAILED", user_id=user["id"])
    assert row["details"]["reason"] == "invalid_credentials"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "a@example.com"}, 400, "invalid_request"),
        ({"grant_type": "password", "password": PASSWORD}, 400, "invalid_request"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "a@example.com", "password": "p" * 80}, 400,
         "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "rt_garbage"}, 400, "invalid_grant"),
    ],
)  # fmt: skip
async def test_rfc_errors(
    client: httpx.AsyncClient, form: dict[str, str], status: int, error: str
) -> None:
    _assert_rfc_error(await _token(client, **form), status, error)


async def test_a_reused_refresh_token_is_invalid_grant(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    first = (await _token(client, grant_type="password", username=email, password=PASSWORD)).json()
    await _token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    clock.advance(timedelta(seconds=60))
    replay = await _token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    _assert_rfc_error(replay, 400, "invalid_grant")


async def test_a_json_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, json={"grant_type": "password"})
    assert response.status_code == 415


async def test_a_standard_oauth_client_uses_both_grants(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    email = unique_email()
    await register(client, email)
    async with AsyncOAuth2Client(
        client_id="pe-portal-web",
        token_endpoint_auth_method="none",
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
    ) as oauth:
        token: dict[str, Any] = await oauth.fetch_token(
            "http://testserver" + TOKEN, grant_type="password", username=email, password=PASSWORD
        )
        assert token["token_type"] == "bearer"
        sessions = await oauth.get(SESSIONS)  # the client sends its bearer token itself
        assert sessions.status_code == 200
        renewed: dict[str, Any] = await oauth.refresh_token(
            "http://testserver" + TOKEN, refresh_token=token["refresh_token"]
        )
        assert renewed["access_token"] != token["access_token"]
        assert renewed["refresh_token"] != token["refresh_token"]
        assert (await oauth.get(SESSIONS)).status_code == 200


async def test_a_locked_account_is_429_invalid_grant_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    email = unique_email()
    await register(client, email)
    for _ in range(10):  # LOGIN_LOCKOUT_THRESHOLD
        await _token(client, grant_type="password", username=email, password="wrong guess!")
    response = await _token(client, grant_type="password", username=email, password=PASSWORD)
    _assert_rfc_error(response, 429, "invalid_grant")
    assert int(response.headers["retry-after"]) > 0
