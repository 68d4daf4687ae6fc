"""Password reset over real SMTP: forgot → mail → reset; sessions end; the link works once."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock
from tests.account.mailbox import delivered_to, next_mail, token_in
from tests.factories import login, signed_in_user, unique_email
from tests.smtp import SmtpServer

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
NEW_PASSWORD = "a fresh and quite long passphrase"


async def _reset_token(
    client: httpx.AsyncClient, app: FastAPI, server: SmtpServer, email: str
) -> str:
    response = await client.post(FORGOT, json={"email": email})
    assert response.status_code == 202
    message = await next_mail(app, server, email)
    assert message["Subject"] == "Reset your password"
    return token_in(message, "/reset-password")


async def test_reset_ends_every_session_and_the_new_password_works_once(
    mail_client: httpx.AsyncClient,
    mail_app: FastAPI,
    smtp_server: SmtpServer,
    db_session: AsyncSession,
) -> None:
    me = await signed_in_user(mail_client)
    other_device = await login(mail_client, me.email)  # a second session, same device
    token = await _reset_token(mail_client, mail_app, smtp_server, me.email.upper())

    response = await mail_client.post(RESET, json={"token": token, "newPassword": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json() == {"sessionsRevoked": 2}

    for old in (me, other_device):
        assert (await mail_client.get("/api/v1/users/me", headers=old.headers)).status_code == 401
        refresh = await mail_client.post(
            "/api/v1/auth/refresh", json={"refreshToken": old.refresh_token}
        )
        assert refresh.status_code == 401
    old_password = await mail_client.post(
        "/api/v1/auth/login", json={"email": me.email, "password": me.password}
    )
    assert old_password.status_code == 401
    await login(mail_client, me.email, NEW_PASSWORD)

    again = await mail_client.post(
        RESET, json={"token": token, "newPassword": "yet another long one"}
    )
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "invalid_token"
    actions = await db_session.execute(
        text("SELECT action FROM audit_logs WHERE user_id = :id ORDER BY created_at"),
        {"id": me.user["id"]},
    )
    assert [row[0] for row in actions][3:5] == ["PASSWORD_RESET_REQUESTED", "PASSWORD_RESET"]
    notice = await next_mail(mail_app, smtp_server, me.email)
    assert notice["Subject"] == "Your password was changed"


async def test_unknown_address_gets_the_same_answer_and_no_mail(
    mail_client: httpx.AsyncClient,
    mail_app: FastAPI,
    smtp_server: SmtpServer,
    db_session: AsyncSession,
) -> None:
    me = await signed_in_user(mail_client)
    known = await mail_client.post(FORGOT, json={"email": me.email})
    stranger = unique_email("nobody")
    unknown = await mail_client.post(FORGOT, json={"email": stranger})
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert known.status_code == 202
    assert await delivered_to(mail_app, smtp_server, stranger) == 0
    assert await delivered_to(mail_app, smtp_server, me.email) == 1
    requested = await db_session.execute(
        text("SELECT count(*) FROM audit_logs WHERE action = 'PASSWORD_RESET_REQUESTED'")
    )
    assert requested.scalar_one() == 1


async def test_a_refused_new_password_changes_nothing_and_the_link_still_works(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    token = await _reset_token(mail_client, mail_app, smtp_server, me.email)
    for weak, code in (("short", "password_too_short"), ("x" * 73, "password_too_long")):
        response = await mail_client.post(RESET, json={"token": token, "newPassword": weak})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code
    assert (await mail_client.get("/api/v1/users/me", headers=me.headers)).status_code == 200
    response = await mail_client.post(RESET, json={"token": token, "newPassword": NEW_PASSWORD})
    assert response.status_code == 200


async def test_the_link_expires_after_an_hour(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    token = await _reset_token(mail_client, mail_app, smtp_server, me.email)
    clock.advance(timedelta(hours=1, seconds=1))  # PASSWORD_RESET_TTL
    response = await mail_client.post(RESET, json={"token": token, "newPassword": NEW_PASSWORD})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "token_expired"
    await login(mail_client, me.email, me.password)  # unchanged


async def test_bad_bodies_name_the_field(mail_client: httpx.AsyncClient) -> None:
    for body, field in (
        ({"email": "not-an-email"}, "email"),
        ({"email": 7}, "email"),
        ({}, "email"),
    ):
        response = await mail_client.post(FORGOT, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == field
    response = await mail_client.post(RESET, json={"token": "garbage"})
    assert response.json()["error"]["details"][0]["field"] == "newPassword"
    response = await mail_client.post(RESET, json={"token": "garbage", "newPassword": NEW_PASSWORD})
    assert response.json()["error"]["code"] == "invalid_token"


async def test_the_endpoints_are_rate_limited_per_ip(mail_app: FastAPI) -> None:
    mail_app.state.settings = mail_app.state.settings.model_copy(update={"auth_rate_limit": 2})
    transport = httpx.ASGITransport(app=mail_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        codes = [
            (await client.post(FORGOT, json={"email": unique_email()})).status_code
            for _ in range(3)
        ]
    assert codes == [202, 202, 429]
