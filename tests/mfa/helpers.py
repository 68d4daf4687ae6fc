"""Second-factor test helpers: enrol TOTP through the API, compute codes, sign in in two steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt

from pe_portal.clock import clock, utcnow
from pe_portal.mfa import totp
from tests.factories import PASSWORD, SignedIn, signed_in_user

MFA = "/api/v1/auth/mfa"
LOGIN = "/api/v1/auth/login"
VERIFY = f"{MFA}/verify"
DEVICE = {"User-Agent": "pytest-device"}


@dataclass
class Enrolled:
    account: SignedIn
    factor_id: str
    secret: str
    recovery_codes: list[str]


def next_step() -> None:
    """Move the clock on one TOTP step (a step is accepted once per factor)."""
    clock.advance(timedelta(seconds=totp.STEP_SECONDS))


def code_now(secret: str, *, steps: int = 0) -> str:
    return totp.code_at(secret, totp.step_of(utcnow()) + steps)


def claims(access_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded


async def start_totp(client: httpx.AsyncClient, account: SignedIn) -> dict[str, Any]:
    response = await client.post(f"{MFA}/totp", headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def enrol_totp(client: httpx.AsyncClient, account: SignedIn | None = None) -> Enrolled:
    """A signed-in account with a confirmed TOTP factor (the confirming step is then used up:
    the tests move the clock one step on before signing in with a code)."""
    account = account or await signed_in_user(client)
    started = await start_totp(client, account)
    response = await client.post(
        f"{MFA}/totp/{started['factorId']}/confirm",
        json={"code": code_now(started["secret"])},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    codes = response.json()["recoveryCodes"]
    return Enrolled(account, started["factorId"], started["secret"], codes)


async def password_step(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(LOGIN, json={"email": email, "password": password}, headers=DEVICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["mfaRequired"] is True
    return body


async def verify(client: httpx.AsyncClient, mfa_token: str, **proof: Any) -> httpx.Response:
    return await client.post(VERIFY, json={"mfaToken": mfa_token, **proof}, headers=DEVICE)


async def sign_in_with_code(client: httpx.AsyncClient, enrolled: Enrolled) -> SignedIn:
    """Both steps with a code of the next TOTP step: an aal2 session."""
    next_step()
    pending = await password_step(client, enrolled.account.email)
    response = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert response.status_code == 200, response.text
    body = response.json()
    return SignedIn(
        enrolled.account.email, PASSWORD, body["user"], body["accessToken"], body["refreshToken"]
    )
