"""Tokens carried by e-mail (verification, password reset): signed, expiring, single-use, no
table (DESIGN 12).

A token holds the user id and an HMAC fingerprint of the state it may change (the password hash
for a reset; the e-mail and verification flag for a verification). Using it changes that state,
so the fingerprint stops matching and the same token is refused afterwards. Each purpose signs
with its own salt, so a verification token never works as a reset token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from pe_portal.clock import utcnow
from pe_portal.errors import Gone, NotFound


class Purpose(StrEnum):
    VERIFY_EMAIL = "pe-portal/verify-email"
    RESET_PASSWORD = "pe-portal/reset-password"  # noqa: S105 - a salt name, not a secret


@dataclass(frozen=True)
class Claims:
    user_id: str
    fingerprint: str


class _ClockSigner(TimestampSigner):
    """Timestamps from pe_portal.clock, so expiry is tested by moving the clock."""

    def get_timestamp(self) -> int:
        return int(utcnow().timestamp())


def _serializer(secret: str, purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=purpose.value, signer=_ClockSigner)


def fingerprint(secret: str, purpose: Purpose, *state: str) -> str:
    """A keyed digest of `state`: reveals nothing of it, changes whenever it does."""
    message = "\x1f".join((purpose.value, *state)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def issue(secret: str, purpose: Purpose, claims: Claims) -> str:
    return _serializer(secret, purpose).dumps({"sub": claims.user_id, "fp": claims.fingerprint})


def read(secret: str, purpose: Purpose, token: str, *, max_age: int) -> Claims:
    """The claims of a genuine, unexpired token; Gone `token_expired` / NotFound `invalid_token`
    (not InvalidInput: the token is well-formed, no schema can tell a genuine one)."""
    try:
        payload: Any = _serializer(secret, purpose).loads(token, max_age=max_age)
    except SignatureExpired as error:
        raise Gone(
            "This link has expired; ask for a new one.",
            code="token_expired",
            details=[{"field": "token"}],
        ) from error
    except BadData as error:
        raise invalid_token() from error
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), str) for key in ("sub", "fp")
    ):
        raise invalid_token()
    return Claims(user_id=payload["sub"], fingerprint=payload["fp"])


def invalid_token() -> NotFound:
    return NotFound(
        "This link is not valid or was already used.",
        code="invalid_token",
        details=[{"field": "token"}],
    )
