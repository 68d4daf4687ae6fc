"""Security notices by mail: a new device, a changed password, a stolen refresh token."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from pe_portal.clock import clock
from tests.account.mailbox import delivered_to, next_mail
from tests.factories import login, register, signed_in_user, unique_email
from tests.smtp import SmtpServer, html_of, link, text_of

SESSIONS_LINK = "https://portal.example/account/sessions"


async def test_a_new_device_is_announced_once(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    email = unique_email()
    await register(mail_client, email)
    await login(mail_client, email, user_agent="Laptop/1.0")
    assert await delivered_to(mail_app, smtp_server, email) == 0  # the first sign-in is no news

    await login(mail_client, email, user_agent="Phone/2.0")
    message = await next_mail(mail_app, smtp_server, email)
    assert message["Subject"] == "New sign-in to your account"
    assert "Phone/2.0" in text_of(message)
    assert "Phone/2.0" in html_of(message)
    assert link(message, "/account/sessions") == SESSIONS_LINK

    await login(mail_client, email, user_agent="Phone/2.0")
    await login(mail_client, email, user_agent="Laptop/1.0")
    assert await delivered_to(mail_app, smtp_server, email) == 1


async def test_notices_use_the_profile_language_and_timezone(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    response = await mail_client.patch(
        "/api/v1/users/me/profile",
        headers=me.headers,
        json={"language": "fr-CA", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 200
    await login(mail_client, me.email, user_agent="Tablette/3.0")
    message = await next_mail(mail_app, smtp_server, me.email)
    assert message["Content-Language"] == "fr"
    assert "Europe/Paris" in text_of(message)


async def test_a_password_change_is_announced(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    response = await mail_client.post(
        "/api/v1/auth/password/change",
        headers=me.headers,
        json={"currentPassword": me.password, "newPassword": "another long passphrase here"},
    )
    assert response.status_code == 200, response.text
    message = await next_mail(mail_app, smtp_server, me.email)
    assert message["Subject"] == "Your password was changed"
    assert link(message, "/account/sessions") == SESSIONS_LINK


async def test_token_reuse_is_announced(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    refresh = "/api/v1/auth/refresh"
    first = await mail_client.post(refresh, json={"refreshToken": me.refresh_token})
    assert first.status_code == 200
    clock.advance(timedelta(seconds=11))  # past REFRESH_REUSE_GRACE
    replay = await mail_client.post(refresh, json={"refreshToken": me.refresh_token})
    assert replay.json()["error"]["code"] == "token_reused"
    message = await next_mail(mail_app, smtp_server, me.email)
    assert link(message, "/account/sessions") == SESSIONS_LINK
    assert await delivered_to(mail_app, smtp_server, me.email) == 1
