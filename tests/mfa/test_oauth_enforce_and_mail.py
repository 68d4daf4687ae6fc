"""The OAuth token endpoint's second-factor grant, MFA_ENFORCE, and the mail notices."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.web.app import create_app
from tests.account.mailbox import next_mail
from tests.auth.helpers import TOKEN
from tests.factories import PASSWORD, signed_in_user
from tests.mfa.helpers import (
    DEVICE,
    MFA,
    claims,
    code_now,
    enrol_totp,
    next_step,
    password_step,
    verify,
)
from tests.smtp import SmtpServer, text_of

MFA_GRANT = "urn:pe-portal:grant-type:mfa"


async def _token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post(TOKEN, data=form, headers=DEVICE)


async def test_the_password_grant_answers_mfa_required_then_the_mfa_grant_signs_in(
    client: httpx.AsyncClient,
) -> None:
    enrolled = await enrol_totp(client)
    email = enrolled.account.email
    first = await _token(client, grant_type="password", username=email, password=PASSWORD)
    assert first.status_code == 403
    body = first.json()
    assert body["error"] == "mfa_required"
    assert body["mfa_token"].startswith("mfa_")
    assert first.headers["cache-control"] == "no-store"
    missing = await _token(client, grant_type=MFA_GRANT, mfa_token=body["mfa_token"])
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    wrong = await _token(client, grant_type=MFA_GRANT, mfa_token=body["mfa_token"], otp="12x456")
    assert wrong.json()["error"] == "invalid_request"
    next_step()
    done = await _token(
        client, grant_type=MFA_GRANT, mfa_token=body["mfa_token"], otp=code_now(enrolled.secret)
    )
    assert done.status_code == 200, done.text
    assert claims(done.json()["access_token"])["aal"] == 2
    replay = await _token(
        client, grant_type=MFA_GRANT, mfa_token=body["mfa_token"], otp=code_now(enrolled.secret)
    )
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")


async def test_the_mfa_grant_takes_a_recovery_code(client: httpx.AsyncClient) -> None:
    enrolled = await enrol_totp(client)
    email = enrolled.account.email
    first = await _token(client, grant_type="password", username=email, password=PASSWORD)
    done = await _token(
        client, grant_type=MFA_GRANT, mfa_token=first.json()["mfa_token"],
        recovery_code=enrolled.recovery_codes[3],
    )  # fmt: skip
    assert done.status_code == 200, done.text


@pytest.fixture
async def enforcing_client(
    app: FastAPI, settings: Settings, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    enforcing = create_app(
        settings.model_copy(update={"mfa_enforce": True}), engine=engine,
        sessionmaker=app.state.sessionmaker, driver_connections=app.state.driver_connections,
    )  # fmt: skip
    transport = httpx.ASGITransport(app=enforcing, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_mfa_enforce_leaves_an_aal1_account_only_enrolment(
    enforcing_client: httpx.AsyncClient,
) -> None:
    account = await signed_in_user(enforcing_client)
    assert (await enforcing_client.get("/api/v1/users/me", headers=account.headers)).is_success
    sessions = await enforcing_client.get("/api/v1/auth/sessions", headers=account.headers)
    assert sessions.status_code == 403
    assert sessions.json()["error"]["code"] == "mfa_enrolment_required"
    enrolled = await enrol_totp(enforcing_client, account)  # enrolment is open
    next_step()
    pending = await password_step(enforcing_client, account.email)
    response = await verify(enforcing_client, pending["mfaToken"], code=code_now(enrolled.secret))
    headers = {"Authorization": f"Bearer {response.json()['accessToken']}"}
    assert (await enforcing_client.get("/api/v1/auth/sessions", headers=headers)).is_success


@pytest.fixture
def notice_app(
    app: FastAPI, settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> FastAPI:
    return create_app(
        smtp_server.settings_for(settings, public_url="https://portal.example"), engine=engine,
        sessionmaker=app.state.sessionmaker, driver_connections=app.state.driver_connections,
    )  # fmt: skip


async def test_adding_a_factor_and_using_a_recovery_code_are_mailed(
    notice_app: FastAPI, smtp_server: SmtpServer
) -> None:
    transport = httpx.ASGITransport(app=notice_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        enrolled = await enrol_totp(client)
        email = enrolled.account.email
        added = await next_mail(notice_app, smtp_server, email)
        assert added["Subject"] == "A second factor was added to your account"
        assert "https://portal.example/account/security" in text_of(added)
        pending = await password_step(client, email)
        await verify(client, pending["mfaToken"], recoveryCode=enrolled.recovery_codes[0])
        used = await next_mail(notice_app, smtp_server, email)
        assert used["Subject"] == "A recovery code was used to sign in"
        assert "9 unused code(s) remain" in text_of(used)
        assert enrolled.recovery_codes[0] not in text_of(used)
        factors = await client.get(f"{MFA}/factors", headers=enrolled.account.headers)
        assert factors.is_success
