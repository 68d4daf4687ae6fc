"""The second step of a two-step sign-in: the mfaToken and its proof in, the session out at
`aal` 2 (DESIGN "Second factor"). Wrong proofs count toward the lock-out exactly like wrong
passwords: MFA_FAILED rows of the same shape, one decision at a time per account."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction
from pe_portal.audit.service import email_digest
from pe_portal.auth import lockout
from pe_portal.auth.service import TokenPair, open_session
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.errors import Unauthenticated
from pe_portal.mfa import challenges, signin
from pe_portal.mfa import service as mfa
from pe_portal.mfa.models import MfaChallenge, MfaFactor
from pe_portal.security.tokens import AccessTokens, Assurance
from pe_portal.users import service as users
from pe_portal.users.models import User


async def _pending_user(
    session: AsyncSession, *, mfa_token: str, context: RequestContext
) -> tuple[MfaChallenge, User]:
    pending = await challenges.open_sign_in(session, token=mfa_token, context=context)
    user = await users.get(session, user_id=pending.user_id)
    if not user.is_active:
        raise Unauthenticated("This account is deactivated.", code="account_inactive")
    challenges.check_password_unchanged(pending, password_hash=user.password)
    return pending, user


async def verify(
    session: AsyncSession, *, mfa_token: str, proof: signin.Proof, context: RequestContext,
    settings: Settings, access: AccessTokens,
) -> TokenPair:  # fmt: skip
    """Complete the sign-in behind `mfa_token` with `proof`; the mfaToken is then spent."""
    pending, user = await _pending_user(session, mfa_token=mfa_token, context=context)
    digest = email_digest(user.email)
    await lockout.serialise(session, email_digest=digest)
    await lockout.refuse_if_locked(
        session, email_digest=digest, user_id=user.id, context=context, settings=settings,
        action=AuditAction.MFA_FAILED,
    )  # fmt: skip
    try:
        checked = await signin.check(
            session, pending=pending, user=user, proof=proof, context=context, settings=settings
        )
    except signin.ProofRefused as refused:
        await lockout.record_failure(
            session, email_digest=digest, user_id=user.id, reason=refused.code,
            context=context, settings=settings, action=AuditAction.MFA_FAILED,
        )  # fmt: skip
        raise
    await signin.verified(
        session, pending=pending, user_id=user.id, checked=checked, context=context
    )
    assurance = Assurance(2, checked.amr, int(utcnow().timestamp()))
    return await open_session(
        session, user=user, assurance=assurance, context=context, settings=settings,
        access=access,
    )  # fmt: skip


async def passkey_challenge(
    session: AsyncSession, *, mfa_token: str, factor_id: str, context: RequestContext,
    settings: Settings,
) -> dict[str, Any]:  # fmt: skip
    """WebAuthn assertion options for one of the pending sign-in's passkeys."""
    pending, _ = await _pending_user(session, mfa_token=mfa_token, context=context)
    return await signin.passkey_options(
        session, pending=pending, factor_id=factor_id, settings=settings
    )


async def pending_factors(
    session: AsyncSession, *, mfa_token: str, context: RequestContext
) -> list[MfaFactor]:
    """The factors that can complete the sign-in behind `mfa_token` (what a page offers)."""
    _, user = await _pending_user(session, mfa_token=mfa_token, context=context)
    return await mfa.confirmed_factors(session, user_id=user.id)
