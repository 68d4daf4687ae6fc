"""Recovery codes (single use, a new set voids the old), step-up (RFC 9470) on the sensitive
actions, factor removal, and lock-out by wrong codes."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock
from tests.auth.helpers import audit_rows, scalar
from tests.factories import PASSWORD, signed_in_user
from tests.mfa.helpers import (
    MFA,
    code_now,
    enrol_totp,
    next_step,
    password_step,
    sign_in_with_code,
    verify,
)

THRESHOLD = 10  # LOGIN_LOCKOUT_THRESHOLD's default


async def test_a_recovery_code_signs_in_once_and_is_audited(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    enrolled = await enrol_totp(client)
    code = enrolled.recovery_codes[0]
    pending = await password_step(client, enrolled.account.email)
    typed = code.upper().replace("-", " ")  # as a person may type it
    response = await verify(client, pending["mfaToken"], recoveryCode=typed)
    assert response.status_code == 200, response.text
    [used] = await audit_rows(db_session, "RECOVERY_CODE_USED", enrolled.account.user["id"])
    assert used["details"] == {"remaining": 9}
    pending = await password_step(client, enrolled.account.email)
    again = await verify(client, pending["mfaToken"], recoveryCode=code)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_mfa_code"
    stored = await scalar(
        db_session,
        "SELECT count(*) FROM mfa_recovery_codes WHERE digest = :code OR digest = :typed",
        code=code,
        typed=typed,
    )
    assert stored == 0  # only digests are kept


async def test_step_up_guards_the_sensitive_actions_of_an_account_with_a_factor(
    client: httpx.AsyncClient,
) -> None:
    enrolled = await enrol_totp(client)
    aal1 = enrolled.account.headers  # signed in before the factor existed
    attempts = [
        ("POST", f"{MFA}/recovery-codes", None),
        ("DELETE", f"{MFA}/factors/{enrolled.factor_id}", None),
        ("GET", "/api/v1/users/me/export", None),
        ("DELETE", "/api/v1/users/me", {"password": PASSWORD}),
        (
            "POST",
            "/api/v1/auth/password/change",
            {"currentPassword": PASSWORD, "newPassword": "another long passphrase"},
        ),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, json=body, headers=aal1)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"]["code"] == "step_up_required"
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert 'acr_values="aal2"' in challenge
        assert "max_age=600" in challenge
    stepped_up = await sign_in_with_code(client, enrolled)
    codes = await client.post(f"{MFA}/recovery-codes", headers=stepped_up.headers)
    assert codes.status_code == 200
    assert len(codes.json()["recoveryCodes"]) == 10
    export = await client.get("/api/v1/users/me/export", headers=stepped_up.headers)
    assert export.status_code == 200
    clock.advance(timedelta(seconds=601))
    stale = await client.post(f"{MFA}/recovery-codes", headers=stepped_up.headers)
    assert stale.status_code == 403


async def test_without_a_factor_nothing_needs_step_up(client: httpx.AsyncClient) -> None:
    account = await signed_in_user(client)
    export = await client.get("/api/v1/users/me/export", headers=account.headers)
    assert export.status_code == 200
    codes = await client.post(f"{MFA}/recovery-codes", headers=account.headers)
    assert codes.status_code == 409
    assert codes.json()["error"]["code"] == "mfa_not_enabled"


async def test_a_new_set_voids_the_old(client: httpx.AsyncClient, db_session: AsyncSession) -> None:
    enrolled = await enrol_totp(client)
    stepped_up = await sign_in_with_code(client, enrolled)
    new = (await client.post(f"{MFA}/recovery-codes", headers=stepped_up.headers)).json()
    pending = await password_step(client, enrolled.account.email)
    old = await verify(client, pending["mfaToken"], recoveryCode=enrolled.recovery_codes[1])
    assert old.status_code == 401
    fresh = await verify(client, pending["mfaToken"], recoveryCode=new["recoveryCodes"][0])
    assert fresh.status_code == 200
    assert await audit_rows(db_session, "RECOVERY_CODES_REGENERATED", enrolled.account.user["id"])


async def test_removing_the_last_factor_returns_to_password_sign_in(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    enrolled = await enrol_totp(client)
    stepped_up = await sign_in_with_code(client, enrolled)
    unknown = await client.delete(f"{MFA}/factors/nope", headers=stepped_up.headers)
    assert unknown.status_code == 404
    url = f"{MFA}/factors/{enrolled.factor_id}"
    assert (await client.delete(url, headers=stepped_up.headers)).status_code == 204
    user_id = enrolled.account.user["id"]
    assert await audit_rows(db_session, "MFA_REMOVED", user_id)
    assert (
        await scalar(
            db_session, "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = :id", id=user_id
        )
        == 0
    )
    login = await client.post(
        "/api/v1/auth/login", json={"email": enrolled.account.email, "password": PASSWORD}
    )
    assert "accessToken" in login.json()


async def test_wrong_codes_lock_the_account_like_wrong_passwords(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    enrolled = await enrol_totp(client)
    next_step()
    right = code_now(enrolled.secret)
    wrong = str((int(right) + 1) % 1_000_000).zfill(6)
    pending = await password_step(client, enrolled.account.email)
    for _ in range(THRESHOLD):
        response = await verify(client, pending["mfaToken"], code=wrong)
        assert response.status_code == 401
    locked = await verify(client, pending["mfaToken"], code=right)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    password = await client.post(
        "/api/v1/auth/login", json={"email": enrolled.account.email, "password": PASSWORD}
    )
    assert password.status_code == 429  # the same lock guards the password step
    user_id = enrolled.account.user["id"]
    failures = await audit_rows(db_session, "MFA_FAILED", user_id)
    reasons = [row["details"]["reason"] for row in failures]
    assert reasons == ["invalid_mfa_code"] * THRESHOLD + ["locked"]
    assert set(failures[0]["details"]) == {"emailDigest", "reason"}  # LOGIN_FAILED's shape
    assert await audit_rows(db_session, "ACCOUNT_LOCKED", user_id)


async def test_wrong_passwords_and_wrong_codes_add_up(client: httpx.AsyncClient) -> None:
    enrolled = await enrol_totp(client)
    email = enrolled.account.email
    for _ in range(THRESHOLD // 2):
        bad = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": "wrong guess here"}
        )
        assert bad.status_code == 401
    pending = await password_step(client, email)
    for _ in range(THRESHOLD // 2):
        wrong = str((int(code_now(enrolled.secret)) + 7) % 1_000_000).zfill(6)
        assert (await verify(client, pending["mfaToken"], code=wrong)).status_code == 401
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 429
