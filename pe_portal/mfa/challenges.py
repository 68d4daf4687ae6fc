"""Challenges: the row behind an mfaToken (a sign-in whose password was checked, waiting for
its second factor) and the challenge of a passkey registration in progress. Single-use,
short-lived (MFA_TOKEN_TTL), and bound to the device and to the password hash they began with."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.base import new_id
from pe_portal.errors import Conflict, Unauthenticated
from pe_portal.mfa import repository
from pe_portal.mfa.models import ChallengePurpose, MfaChallenge
from pe_portal.security.tokens import token_digest

_TOKEN_PREFIX = "mfa_"  # noqa: S105 - a prefix, not a secret


def _password_digest(password_hash: str) -> str:
    return hashlib.sha256(f"mfa|{password_hash}".encode()).hexdigest()


def _invalid_token(message: str = "The mfaToken is not valid; sign in again.") -> Unauthenticated:
    return Unauthenticated(message, code="invalid_mfa_token")


async def begin_sign_in(
    session: AsyncSession, *, user_id: str, password_hash: str, context: RequestContext,
    settings: Settings,
) -> str:  # fmt: skip
    """A new mfaToken for a sign-in whose password was just checked."""
    now = utcnow()
    await repository.delete_expired_challenges(session, user_id=user_id, now=now)
    token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = MfaChallenge(
        id=new_id(), user_id=user_id, purpose=ChallengePurpose.SIGN_IN,
        token_digest=token_digest(token), user_agent=context.user_agent,
        password_digest=_password_digest(password_hash),
        expires_at=now + timedelta(seconds=settings.mfa_token_ttl), created_at=now,
    )  # fmt: skip
    await repository.add(session, row)
    return token


async def open_sign_in(
    session: AsyncSession, *, token: str, context: RequestContext
) -> MfaChallenge:
    """The pending sign-in behind `token`, locked; Unauthenticated when unknown, used, expired
    or presented from another device."""
    if not token.startswith(_TOKEN_PREFIX) or len(token) > 100:
        raise _invalid_token()
    row = await repository.challenge_for_update(
        session, token_digest=token_digest(token), purpose=ChallengePurpose.SIGN_IN
    )
    if row is None:
        raise _invalid_token("The mfaToken is not valid or was already used; sign in again.")
    if row.expires_at <= utcnow():
        raise _invalid_token("The mfaToken has expired; sign in again.")
    if not hmac.compare_digest(row.user_agent or "", context.user_agent or ""):
        raise _invalid_token("The mfaToken belongs to a sign-in on another device.")
    return row


def check_password_unchanged(row: MfaChallenge, *, password_hash: str) -> None:
    """A password changed (or reset) since the sign-in began voids its mfaToken."""
    if not hmac.compare_digest(row.password_digest or "", _password_digest(password_hash)):
        raise _invalid_token("The password changed since this sign-in began; sign in again.")


async def finish(session: AsyncSession, row: MfaChallenge) -> None:
    """The mfaToken is spent."""
    await repository.delete_challenge(session, row)


async def keep_registration_challenge(
    session: AsyncSession, *, user_id: str, challenge: bytes, settings: Settings
) -> None:
    """Remember a passkey registration's challenge (the latest one replaces any other)."""
    now = utcnow()
    await repository.delete_challenges(
        session, user_id=user_id, purpose=ChallengePurpose.REGISTRATION
    )
    row = MfaChallenge(
        id=new_id(), user_id=user_id, purpose=ChallengePurpose.REGISTRATION,
        token_digest=token_digest(secrets.token_urlsafe(32)), webauthn_challenge=challenge,
        expires_at=now + timedelta(seconds=settings.mfa_token_ttl), created_at=now,
    )  # fmt: skip
    await repository.add(session, row)


async def take_registration_challenge(session: AsyncSession, *, user_id: str) -> bytes:
    """The pending registration's challenge, spent by this call (single use)."""
    row = await repository.registration_for_update(session, user_id=user_id)
    if row is None or row.webauthn_challenge is None or row.expires_at <= utcnow():
        # Conflict, not InvalidInput: the body is well-formed, the account's state lacks a challenge.
        raise Conflict(
            "Ask for registration options first (they expire).", code="mfa_challenge_required"
        )
    await repository.delete_challenge(session, row)
    return row.webauthn_challenge
