"""TOTP end to end: enrolment, confirmation, the two-step sign-in, replay, the mfaToken's rules,
and the assurance level in tokens, on the session row and through refresh."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.clock import clock
from pe_portal.config import Settings
from pe_portal.context import SYSTEM
from pe_portal.ops.cleanup import cleanup_sessions
from tests.auth.helpers import REFRESH, audit_rows, scalar
from tests.factories import PASSWORD, signed_in_user
from tests.mfa.helpers import (
    MFA,
    claims,
    code_now,
    enrol_totp,
    next_step,
    password_step,
    sign_in_with_code,
    start_totp,
    verify,
)


async def test_enrolment_gives_secret_uri_and_qr_and_stays_pending_until_confirmed(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    account = await signed_in_user(client)
    started = await start_totp(client, account)
    assert started["otpauthUri"].startswith("otpauth://totp/pe-portal:")
    assert f"secret={started['secret']}" in started["otpauthUri"]
    assert started["qrSvg"].startswith("<svg")
    listed = await client.get(f"{MFA}/factors", headers=account.headers)
    assert listed.json() == []
    # Still a one-step sign-in: a pending factor is no factor.
    again = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert "accessToken" in again.json()
    stored = await scalar(
        db_session, "SELECT secret FROM mfa_factors WHERE id = :id", id=started["factorId"]
    )
    assert started["secret"] not in stored
    assert stored.startswith("dev.")


async def test_a_wrong_confirmation_code_leaves_no_active_factor(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    account = await signed_in_user(client)
    started = await start_totp(client, account)
    wrong = str((int(code_now(started["secret"])) + 1) % 1_000_000).zfill(6)
    url = f"{MFA}/totp/{started['factorId']}/confirm"
    response = await client.post(url, json={"code": wrong}, headers=account.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_mfa_code"
    assert (await client.get(f"{MFA}/factors", headers=account.headers)).json() == []
    assert await audit_rows(db_session, "MFA_ENROLLED", account.user["id"]) == []


async def test_confirmation_activates_with_ten_recovery_codes_once(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    enrolled = await enrol_totp(client)
    assert len(enrolled.recovery_codes) == 10
    assert len(set(enrolled.recovery_codes)) == 10
    [factor] = (await client.get(f"{MFA}/factors", headers=enrolled.account.headers)).json()
    assert factor["id"] == enrolled.factor_id
    assert factor["type"] == "totp"
    assert set(factor) == {"id", "type", "name", "createdAt", "lastUsedAt"}
    second = await enrol_totp(client, enrolled.account)
    assert second.recovery_codes is None  # codes come with the first factor only
    rows = await audit_rows(db_session, "MFA_ENROLLED", enrolled.account.user["id"])
    assert [row["details"]["factorId"] for row in rows] == [enrolled.factor_id, second.factor_id]


async def test_sign_in_takes_two_steps_and_gives_aal2(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    enrolled = await enrol_totp(client)
    next_step()
    pending = await password_step(client, enrolled.account.email)
    assert pending["factors"] == [{"id": enrolled.factor_id, "type": "totp"}]
    assert pending["expiresIn"] == 300
    assert "accessToken" not in pending
    response = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert response.status_code == 200, response.text
    token = claims(response.json()["accessToken"])
    assert token["aal"] == 2
    assert token["amr"] == ["pwd", "otp", "mfa"]
    assert await scalar(db_session, "SELECT aal FROM sessions WHERE id = :id", id=token["sid"]) == 2
    [verified] = await audit_rows(db_session, "MFA_VERIFIED", enrolled.account.user["id"])
    assert verified["details"]["method"] == "totp"
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {response.json()['accessToken']}"}
    )
    assert me.status_code == 200


async def test_a_password_only_token_says_aal1(client: httpx.AsyncClient) -> None:
    account = await signed_in_user(client)
    token = claims(account.access_token)
    assert token["aal"] == 1
    assert token["amr"] == ["pwd"]
    assert token["auth_time"] <= token["iat"]


async def test_each_time_step_is_accepted_once(client: httpx.AsyncClient) -> None:
    enrolled = await enrol_totp(client)
    await sign_in_with_code(client, enrolled)
    pending = await password_step(client, enrolled.account.email)
    replay = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "mfa_code_reused"
    next_step()
    fresh = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert fresh.status_code == 200  # the same mfaToken survives a wrong attempt


async def test_codes_of_one_step_either_side_are_accepted_not_two(
    client: httpx.AsyncClient,
) -> None:
    enrolled = await enrol_totp(client)
    clock.advance(timedelta(minutes=5))
    pending = await password_step(client, enrolled.account.email)
    too_old = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret, steps=-2))
    assert too_old.json()["error"]["code"] == "invalid_mfa_code"
    early = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret, steps=1))
    assert early.status_code == 200
    # That used step+1: the current step's code is now an old one.
    pending = await password_step(client, enrolled.account.email)
    late = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert late.json()["error"]["code"] == "mfa_code_reused"


async def test_the_mfa_token_is_single_use_short_lived_and_bound_to_the_device(
    client: httpx.AsyncClient,
) -> None:
    enrolled = await enrol_totp(client)
    next_step()
    pending = await password_step(client, enrolled.account.email)
    other_device = await client.post(
        f"{MFA}/verify",
        json={"mfaToken": pending["mfaToken"], "code": code_now(enrolled.secret)},
        headers={"User-Agent": "another-device"},
    )
    assert other_device.status_code == 401
    assert other_device.json()["error"]["code"] == "invalid_mfa_token"
    assert (await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))).is_success
    next_step()
    reused = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert reused.json()["error"]["code"] == "invalid_mfa_token"
    expiring = await password_step(client, enrolled.account.email)
    clock.advance(timedelta(seconds=301))
    late = await verify(client, expiring["mfaToken"], code=code_now(enrolled.secret))
    assert late.status_code == 401
    assert "expired" in late.json()["error"]["message"]


async def test_a_password_change_voids_pending_sign_ins(client: httpx.AsyncClient) -> None:
    enrolled = await enrol_totp(client)
    pending = await password_step(client, enrolled.account.email)
    signed_in = await sign_in_with_code(client, enrolled)
    changed = await client.post(
        "/api/v1/auth/password/change",
        json={"currentPassword": PASSWORD, "newPassword": "an entirely new passphrase"},
        headers=signed_in.headers,
    )
    assert changed.status_code == 200, changed.text
    next_step()
    response = await verify(client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert response.json()["error"]["code"] == "invalid_mfa_token"


async def test_refresh_keeps_the_assurance_level(client: httpx.AsyncClient) -> None:
    enrolled = await enrol_totp(client)
    signed_in = await sign_in_with_code(client, enrolled)
    first = claims(signed_in.access_token)
    clock.advance(timedelta(seconds=5))
    response = await client.post(REFRESH, json={"refreshToken": signed_in.refresh_token})
    assert response.status_code == 200
    refreshed = claims(response.json()["accessToken"])
    assert refreshed["aal"] == 2
    assert "mfa" in refreshed["amr"]
    assert refreshed["auth_time"] == first["auth_time"]  # a refresh is no new proof
    aal1 = claims(
        (await client.post(REFRESH, json={"refreshToken": enrolled.account.refresh_token})).json()[
            "accessToken"
        ]
    )
    assert aal1["aal"] == 1


async def test_bad_codes_and_tokens_are_clear_4xx(client: httpx.AsyncClient) -> None:
    enrolled = await enrol_totp(client)
    pending = await password_step(client, enrolled.account.email)
    token = pending["mfaToken"]
    for body in (
        {"mfaToken": token, "code": "12345"},
        {"mfaToken": token, "code": "12345a"},
        {"mfaToken": token, "code": "\uff11\uff12\uff13\uff14\uff15\uff16"},
        {"mfaToken": token},
        {"mfaToken": token, "code": "123456", "recoveryCode": "abcde-fghij"},
        {"mfaToken": token, "factorId": enrolled.factor_id},
        {"mfaToken": "x" * 500, "code": "123456"},
    ):
        response = await client.post(f"{MFA}/verify", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    unknown = await verify(client, "mfa_not-a-token", code="123456")
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "invalid_mfa_token"
    malformed = await client.post(
        f"{MFA}/verify", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    url = f"{MFA}/totp/no-such-factor/confirm"
    missing = await client.post(url, json={"code": "123456"}, headers=enrolled.account.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "factor_not_found"


async def test_the_cleanup_forgets_abandoned_sign_ins(
    live_client: httpx.AsyncClient, live_app: FastAPI, settings: Settings, engine: AsyncEngine
) -> None:
    enrolled = await enrol_totp(live_client)
    pending = await password_step(live_client, enrolled.account.email)
    clock.advance(timedelta(seconds=301))
    await cleanup_sessions(live_app.state.sessionmaker, settings, context=SYSTEM)
    async with engine.connect() as connection:
        assert await scalar(connection, "SELECT count(*) FROM mfa_challenges") == 0
        [row] = await audit_rows(connection, "SESSIONS_CLEANED_UP")
        assert row["details"]["expiredMfaChallenges"] == 1
    gone = await verify(live_client, pending["mfaToken"], code=code_now(enrolled.secret))
    assert gone.json()["error"]["code"] == "invalid_mfa_token"
