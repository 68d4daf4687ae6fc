"""Access tokens: the claims, everything that must be refused, JWKS and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import clock, utcnow
from pe_portal.security.keys import KeyRing
from tests.auth.helpers import SESSIONS, execute
from tests.factories import SignedIn, signed_in_user


def _keys(app: FastAPI) -> KeyRing:
    keys: KeyRing = app.state.access_tokens.keys
    return keys


async def _jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _verify_with_jwks(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [key for key in jwks["keys"] if key["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
        audience="pe-portal-api",
        issuer="pe-portal",
    )
    return claims


async def _status(client: httpx.AsyncClient, authorization: str) -> httpx.Response:
    return await client.get(SESSIONS, headers={"Authorization": authorization})


async def test_claims_verify_with_the_published_key(client: httpx.AsyncClient) -> None:
    signed = await signed_in_user(client)
    header = jwt.get_unverified_header(signed.access_token)
    assert (header["alg"], header["typ"]) == ("EdDSA", "at+jwt")
    jwks = await _jwks(client)
    assert all(key["kty"] == "OKP" and key["crv"] == "Ed25519" for key in jwks["keys"])
    assert all("d" not in key for key in jwks["keys"])  # public halves only
    claims = _verify_with_jwks(signed.access_token, jwks)
    assert claims["sub"] == signed.user["id"]
    assert claims["exp"] - claims["iat"] == 900
    [session] = (await client.get(SESSIONS, headers=signed.headers)).json()
    assert claims["sid"] == session["id"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(signed: SignedIn, **overrides: Any) -> dict[str, Any]:
    claims = jwt.decode(signed.access_token, options={"verify_signature": False})
    return {**claims, **overrides}


def _hs256_with_public_key(app: FastAPI, signed: SignedIn) -> str:
    """The algorithm-confusion attack: HMAC keyed with the (public) verification key."""
    key = _keys(app).signing_key()
    public_pem = key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(signed)).encode())}"
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _signed(app: FastAPI, claims: dict[str, Any], **header: Any) -> str:
    key = _keys(app).signing_key()
    headers = {"kid": key.kid, "typ": "at+jwt", **header}
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers=headers)


FORGERIES = [
    "alg_none",
    "hs256_public_key",
    "wrong_audience",
    "wrong_issuer",
    "unknown_kid",
    "foreign_key_our_kid",
    "plain_jwt_type",
    "missing_sid",
    "truncated",
    "garbage",
    "refresh_token",
]


def _unsigned(claims: dict[str, Any], kid: str) -> str:
    header = {"alg": "none", "typ": "at+jwt", "kid": kid}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _forge(kind: str, app: FastAPI, signed: SignedIn) -> str:
    claims = _claims(signed)
    kid = _keys(app).signing_key().kid
    stranger = Ed25519PrivateKey.generate()
    forged: dict[str, Callable[[], str]] = {
        "alg_none": lambda: _unsigned(claims, kid),
        "hs256_public_key": lambda: _hs256_with_public_key(app, signed),
        "wrong_audience": lambda: _signed(app, {**claims, "aud": "another-api"}),
        "wrong_issuer": lambda: _signed(app, {**claims, "iss": "evil"}),
        "unknown_kid": lambda: jwt.encode(
            claims, stranger, algorithm="EdDSA", headers={"kid": "nope", "typ": "at+jwt"}
        ),
        "foreign_key_our_kid": lambda: jwt.encode(
            claims, stranger, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"}
        ),
        "plain_jwt_type": lambda: _signed(app, claims, typ="JWT"),
        "missing_sid": lambda: _signed(app, {k: v for k, v in claims.items() if k != "sid"}),
        "truncated": lambda: signed.access_token[:-6],
        "garbage": lambda: "a.b.c",
        "refresh_token": lambda: signed.refresh_token,
    }
    return forged[kind]()


@pytest.mark.parametrize("kind", FORGERIES)
async def test_forged_or_mangled_tokens_are_401(
    client: httpx.AsyncClient, app: FastAPI, kind: str
) -> None:
    signed = await signed_in_user(client)
    response = await _status(client, f"Bearer {_forge(kind, app, signed)}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("template", ["{token}", "Basic {token}", "Bearer", "Bearer  ", ""])
async def test_authorization_without_a_bearer_token_is_401(
    client: httpx.AsyncClient, template: str
) -> None:
    signed = await signed_in_user(client)
    response = await _status(client, template.format(token=signed.access_token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_no_authorization_header_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get(SESSIONS)).status_code == 401


async def test_an_expired_token_is_401(client: httpx.AsyncClient) -> None:
    signed = await signed_in_user(client)
    assert (await client.get(SESSIONS, headers=signed.headers)).status_code == 200
    clock.advance(timedelta(seconds=900))
    response = await client.get(SESSIONS, headers=signed.headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_tokens_issued_on_an_advanced_clock_still_verify(client: httpx.AsyncClient) -> None:
    clock.advance(timedelta(hours=2))
    signed = await signed_in_user(client)
    assert (await client.get(SESSIONS, headers=signed.headers)).status_code == 200


async def test_a_deactivated_account_token_dies_at_once(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    signed = await signed_in_user(client)
    assert (await client.get(SESSIONS, headers=signed.headers)).status_code == 200
    await execute(
        db_session, "UPDATE users SET is_active = false WHERE id = :id", id=signed.user["id"]
    )
    response = await client.get(SESSIONS, headers=signed.headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_revoked"


async def test_rotated_keys_keep_old_tokens_valid(client: httpx.AsyncClient, app: FastAPI) -> None:
    before = await signed_in_user(client)
    new_key = _keys(app).rotate(utcnow())
    after = await signed_in_user(client)
    assert jwt.get_unverified_header(after.access_token)["kid"] == new_key.kid
    assert jwt.get_unverified_header(before.access_token)["kid"] != new_key.kid
    for signed in (before, after):
        assert (await client.get(SESSIONS, headers=signed.headers)).status_code == 200
        _verify_with_jwks(signed.access_token, await _jwks(client))


async def test_a_key_written_by_another_process_verifies_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """`pe-portal keys rotate` runs in its own process: the server must pick the key up."""
    _keys(app).signing_key()  # the server has read the directory
    other_process = KeyRing(_keys(app).directory)
    key = other_process.rotate(utcnow())
    signed = await signed_in_user(client)
    assert jwt.get_unverified_header(signed.access_token)["kid"] == key.kid
    stranger = other_process.rotate(utcnow() + timedelta(seconds=1))
    token = jwt.encode(
        _claims(signed), stranger.private, algorithm="EdDSA",
        headers={"kid": stranger.kid, "typ": "at+jwt"},
    )  # fmt: skip
    assert (await _status(client, f"Bearer {token}")).status_code == 200
