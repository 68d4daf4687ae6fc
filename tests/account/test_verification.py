"""E-mail verification over real SMTP: request, receive the link, follow it, once."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock
from tests.account.mailbox import delivered_to, next_mail, token_in
from tests.factories import SignedIn, signed_in_user
from tests.smtp import SmtpServer, link

REQUEST = "/api/v1/auth/verify/request"
VERIFY = "/api/v1/auth/verify"


async def _mailed_token(
    client: httpx.AsyncClient, app: FastAPI, server: SmtpServer, me: SignedIn
) -> str:
    response = await client.post(REQUEST, headers=me.headers)
    assert response.status_code == 202, response.text
    message = await next_mail(app, server, me.email)
    assert message["Subject"] == "Confirm your e-mail address"
    assert link(message, "/verify-email").startswith("https://portal.example/verify-email?token=")
    return token_in(message, "/verify-email")


async def test_following_the_mailed_link_verifies_the_address_once(
    mail_client: httpx.AsyncClient,
    mail_app: FastAPI,
    smtp_server: SmtpServer,
    db_session: AsyncSession,
) -> None:
    me = await signed_in_user(mail_client)
    token = await _mailed_token(mail_client, mail_app, smtp_server, me)
    response = await mail_client.post(VERIFY, json={"token": token})
    assert response.status_code == 200, response.text
    assert response.json()["isVerified"] is True
    assert (await mail_client.get("/api/v1/users/me", headers=me.headers)).json()["isVerified"]
    again = await mail_client.post(VERIFY, json={"token": token})
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "invalid_token"
    actions = await db_session.execute(
        text("SELECT action FROM audit_logs WHERE user_id = :id ORDER BY created_at"),
        {"id": me.user["id"]},
    )
    assert [row[0] for row in actions][-2:] == ["EMAIL_VERIFICATION_SENT", "EMAIL_VERIFIED"]
    refused = await mail_client.post(REQUEST, headers=me.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "already_verified"


async def test_the_link_expires(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    token = await _mailed_token(mail_client, mail_app, smtp_server, me)
    clock.advance(timedelta(days=2, seconds=1))  # EMAIL_VERIFICATION_TTL
    response = await mail_client.post(VERIFY, json={"token": token})
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "token_expired"


async def test_garbage_and_foreign_tokens_are_refused(
    mail_client: httpx.AsyncClient, mail_app: FastAPI, smtp_server: SmtpServer
) -> None:
    me = await signed_in_user(mail_client)
    token = await _mailed_token(mail_client, mail_app, smtp_server, me)
    for bad in ("garbage", token[:-2] + "xx", token + "a"):
        response = await mail_client.post(VERIFY, json={"token": bad})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "invalid_token"
    # A reset token is signed for another purpose and does not verify anything.
    await mail_client.post("/api/v1/auth/password/forgot", json={"email": me.email})
    reset = token_in(await next_mail(mail_app, smtp_server, me.email), "/reset-password")
    response = await mail_client.post(VERIFY, json={"token": reset})
    assert response.json()["error"]["code"] == "invalid_token"
    for body in ({}, {"token": ""}, {"token": 5}, {"token": "x" * 2000}):
        response = await mail_client.post(VERIFY, json=body)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "token"
    assert await delivered_to(mail_app, smtp_server, me.email) == 2


async def test_requesting_needs_a_signed_in_user(mail_client: httpx.AsyncClient) -> None:
    assert (await mail_client.post(REQUEST)).status_code == 401
