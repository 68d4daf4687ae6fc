"""Passkeys through a software authenticator: registration, sign-in at aal2, and what must be
refused (another relying party or origin, a wrong shape, no user verification, a replayed
assertion, a sign count going backwards)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.auth.helpers import audit_rows, scalar
from tests.factories import SignedIn, signed_in_user
from tests.mfa.authenticator import SoftwareAuthenticator
from tests.mfa.helpers import DEVICE, MFA, claims, password_step, verify


async def _options(client: httpx.AsyncClient, account: SignedIn) -> dict[str, Any]:
    response = await client.post(f"{MFA}/webauthn/register/options", headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _register(
    client: httpx.AsyncClient, account: SignedIn, credential: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{MFA}/webauthn/register",
        json={"credential": credential, "name": "Laptop"},
        headers=account.headers,
    )


async def _with_passkey(client: httpx.AsyncClient) -> tuple[SignedIn, SoftwareAuthenticator, str]:
    account = await signed_in_user(client)
    authenticator = SoftwareAuthenticator()
    options = await _options(client, account)
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    response = await _register(client, account, authenticator.create(options))
    assert response.status_code == 201, response.text
    assert len(response.json()["recoveryCodes"]) == 10
    return account, authenticator, response.json()["factor"]["id"]


async def _assertion_options(
    client: httpx.AsyncClient, mfa_token: str, factor_id: str
) -> dict[str, Any]:
    response = await client.post(
        f"{MFA}/challenge", json={"mfaToken": mfa_token, "factorId": factor_id}, headers=DEVICE
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_passkey_registers_and_signs_in_at_aal2(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    account, authenticator, factor_id = await _with_passkey(client)
    pending = await password_step(client, account.email)
    assert pending["factors"] == [{"id": factor_id, "type": "webauthn"}]
    options = await _assertion_options(client, pending["mfaToken"], factor_id)
    assert options["userVerification"] == "required"
    response = await verify(
        client, pending["mfaToken"], factorId=factor_id, credential=authenticator.get(options)
    )
    assert response.status_code == 200, response.text
    token = claims(response.json()["accessToken"])
    assert token["aal"] == 2
    assert "hwk" in token["amr"]
    count = await scalar(
        db_session, "SELECT sign_count FROM mfa_factors WHERE id = :id", id=factor_id
    )
    assert count == 1
    [enrolled] = await audit_rows(db_session, "MFA_ENROLLED", account.user["id"])
    assert enrolled["details"]["type"] == "webauthn"


async def test_a_replayed_assertion_and_a_sign_count_going_back_are_refused(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    account, authenticator, factor_id = await _with_passkey(client)
    pending = await password_step(client, account.email)
    options = await _assertion_options(client, pending["mfaToken"], factor_id)
    first = authenticator.get(options)
    assert (
        await verify(client, pending["mfaToken"], factorId=factor_id, credential=first)
    ).is_success

    pending = await password_step(client, account.email)
    await _assertion_options(client, pending["mfaToken"], factor_id)
    replay = await verify(client, pending["mfaToken"], factorId=factor_id, credential=first)
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_passkey"
    # The challenge was spent by that attempt: the next one needs new options.
    spent = await verify(client, pending["mfaToken"], factorId=factor_id, credential=first)
    assert spent.json()["error"]["code"] == "mfa_challenge_required"

    options = await _assertion_options(client, pending["mfaToken"], factor_id)
    cloned = authenticator.get(options, sign_count=1)  # not above the stored count
    backwards = await verify(client, pending["mfaToken"], factorId=factor_id, credential=cloned)
    assert backwards.json()["error"]["code"] == "invalid_passkey"
    reasons = [
        r["details"]["reason"]
        for r in await audit_rows(db_session, "MFA_FAILED", account.user["id"])
    ]
    assert reasons == ["invalid_passkey", "invalid_passkey"]


async def test_registration_refuses_another_rp_origin_shape_or_no_verification(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    account = await signed_in_user(client)
    authenticator = SoftwareAuthenticator()
    for credential_of in (
        lambda options: authenticator.create(options, origin="https://evil.example"),
        lambda options: authenticator.create(options, rp_id="evil.example"),
        lambda options: authenticator.create(options, verified=False),
        lambda options: {"id": "x", "type": "public-key", "response": {"nope": 1}},
    ):
        options = await _options(client, account)
        response = await _register(client, account, credential_of(options))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_passkey"
    no_options = await _register(
        client, account, authenticator.create(await _options(client, account))
    )
    assert no_options.status_code == 201
    again = await _register(client, account, authenticator.create({**options, "challenge": "AAAA"}))
    assert again.json()["error"]["code"] == "mfa_challenge_required"  # options are single-use
    assert (
        await scalar(
            db_session,
            "SELECT count(*) FROM mfa_factors WHERE user_id = :id",
            id=account.user["id"],
        )
        == 1
    )


async def test_the_challenge_refuses_unknown_factors_and_tokens(client: httpx.AsyncClient) -> None:
    account, _, factor_id = await _with_passkey(client)
    pending = await password_step(client, account.email)
    unknown = await client.post(
        f"{MFA}/challenge",
        json={"mfaToken": pending["mfaToken"], "factorId": "nope"},
        headers=DEVICE,
    )
    assert unknown.status_code == 404
    bad_token = await client.post(
        f"{MFA}/challenge", json={"mfaToken": "mfa_nope", "factorId": factor_id}, headers=DEVICE
    )
    assert bad_token.status_code == 401
    no_challenge = await verify(client, pending["mfaToken"], factorId=factor_id, credential={})
    assert no_challenge.json()["error"]["code"] == "mfa_challenge_required"


async def test_an_oversized_credential_is_refused_whole(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    account = await signed_in_user(client)
    await _options(client, account)
    huge = {"id": "x" * 70_000, "type": "public-key", "response": {}}
    response = await _register(client, account, huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    count = "SELECT count(*) FROM mfa_factors WHERE user_id = :id"
    assert await scalar(db_session, count, id=account.user["id"]) == 0
