"""Access tokens (EdDSA JWTs) and refresh tokens (opaque, HMAC-derived, stored as digests).

Refresh token `rt_<sid>.<generation>.<mac>`: the mac is HMAC-SHA256(SECRET_KEY, sid|generation),
so a token can be checked as genuine before any lookup (a forged one never revokes anything), and
the successor of a just-rotated token can be derived again inside the grace window instead of
being stored. The database keeps only SHA-256 of the current token (DESIGN 6).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from pe_portal.errors import Unauthenticated
from pe_portal.security.keys import KeyRing

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 media type
_REFRESH_FORMAT = re.compile(r"rt_([A-Za-z0-9_-]{1,64})\.(\d{1,9})\.([A-Za-z0-9_-]{43})")
_CACHE_SIZE = 20_000
_IAT_LEEWAY = 60  # seconds of clock skew tolerated between the processes that issue and verify


@dataclass(frozen=True)
class Assurance:
    """How a sign-in was authenticated: `aal` 1 (password) or 2 (a second factor too), the RFC
    8176 methods, and when the person last proved it (`auth_time`, seconds since the epoch)."""

    aal: int
    amr: tuple[str, ...]
    auth_time: int


PASSWORD_ONLY = ("pwd",)


def session_assurance(aal: int, signed_in_at: datetime) -> Assurance:
    """What a refreshed pair carries: the session's level, from its sign-in. The session row
    keeps only the level, so the methods become the generic RFC 8176 `mfa`."""
    amr = ("pwd", "mfa") if aal >= 2 else PASSWORD_ONLY
    return Assurance(aal, amr, int(signed_in_at.timestamp()))


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    expires_at: int
    assurance: Assurance


@dataclass(frozen=True)
class RefreshToken:
    session_id: str
    generation: int
    value: str

    @property
    def digest(self) -> str:
        return token_digest(self.value)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(secret: str, session_id: str, generation: int) -> str:
    raw = hmac.new(secret.encode(), f"refresh|{session_id}|{generation}".encode(), "sha256")
    return base64.urlsafe_b64encode(raw.digest()).rstrip(b"=").decode()


def refresh_token(secret: str, session_id: str, generation: int) -> RefreshToken:
    value = f"rt_{session_id}.{generation}.{_mac(secret, session_id, generation)}"
    return RefreshToken(session_id, generation, value)


def parse_refresh_token(secret: str, value: str) -> RefreshToken:
    """A genuine token of ours, or Unauthenticated (malformed, truncated or forged)."""
    match = _REFRESH_FORMAT.fullmatch(value)  # not `match`: its `$` accepts a trailing newline
    if match is None:
        raise Unauthenticated("The refresh token is not valid.", code="invalid_token")
    session_id, generation = match.group(1), int(match.group(2))
    expected = _mac(secret, session_id, generation)
    if not hmac.compare_digest(expected, match.group(3)):
        raise Unauthenticated("The refresh token is not valid.", code="invalid_token")
    return RefreshToken(session_id, generation, value)


class AccessTokens:
    """Issues and verifies access tokens; verified tokens are cached until they expire."""

    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, ttl: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._cache: OrderedDict[str, AccessClaims] = OrderedDict()

    def issue(
        self, *, user_id: str, session_id: str, now: datetime, assurance: Assurance
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        key = self.keys.signing_key()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl)).timestamp()),
            "jti": secrets.token_urlsafe(12),
            "auth_time": assurance.auth_time,
            "aal": assurance.aal,
            "amr": list(assurance.amr),
        }
        headers = {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(claims, key.private, algorithm="EdDSA", headers=headers), self.ttl

    def verify(self, token: str, *, now: datetime) -> AccessClaims:
        """The token's claims, or Unauthenticated for anything not a valid, live access token."""
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > now.timestamp():
                return cached
            del self._cache[token]
        claims = self._decode(token, now)
        self._remember(token, claims)
        return claims

    def _decode(self, token: str, now: datetime) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.verification_key(str(header.get("kid", "")))
            if key is None or header.get("typ") != ACCESS_TOKEN_TYPE:
                raise jwt.InvalidTokenError("unknown key or wrong token type")
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],  # never what the token's header asks for
                audience=self.audience,
                issuer=self.issuer,
                # Time claims are checked below against our clock (injectable), not the library's.
                options={
                    "require": ["exp", "iat", "sub", "sid"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            expires_at, issued_at = int(payload["exp"]), int(payload["iat"])
            assurance = _assurance(payload, issued_at)
        except (jwt.InvalidTokenError, ValueError, TypeError) as error:
            raise Unauthenticated("The access token is not valid.", code="invalid_token") from error
        if issued_at > now.timestamp() + _IAT_LEEWAY:
            raise Unauthenticated("The access token is not valid.", code="invalid_token")
        if expires_at <= now.timestamp():
            raise Unauthenticated("The access token has expired.", code="token_expired")
        return AccessClaims(str(payload["sub"]), str(payload["sid"]), expires_at, assurance)

    def _remember(self, token: str, claims: AccessClaims) -> None:
        self._cache[token] = claims
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)


def _assurance(payload: dict[str, Any], issued_at: int) -> Assurance:
    """The token's assurance claims; a token from before they existed is a password sign-in."""
    aal = int(payload.get("aal", 1))
    amr = payload.get("amr", list(PASSWORD_ONLY))
    if aal not in (1, 2) or not isinstance(amr, list):
        raise ValueError("malformed assurance claims")
    return Assurance(
        aal, tuple(str(method) for method in amr), int(payload.get("auth_time", issued_at))
    )
