"""The second step of a sign-in: the proof (a TOTP code, a recovery code or a passkey
assertion) checked against the account's factors. Refusals are `ProofRefused`, which the
sign-in counts toward the lock-out; a refusal writes nothing but spending a passkey challenge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import service as audit
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from pe_portal.mfa import passkeys, recovery, repository, service, totp
from pe_portal.mfa.models import FactorType, MfaChallenge, MfaFactor
from pe_portal.users import notices
from pe_portal.users.models import User

# RFC 8176 methods of a sign-in completed by each proof.
TOTP_AMR = ("pwd", "otp", "mfa")
PASSKEY_AMR = ("pwd", "hwk", "user", "mfa")


class ProofRefused(Unauthenticated):
    """A wrong, reused or forged proof; committed with its audit row (it counts)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code, keep_changes=True)


@dataclass(frozen=True)
class Proof:
    """Exactly one of: a TOTP code, a recovery code, a passkey assertion (with its factor)."""

    code: str | None = None
    recovery_code: str | None = None
    factor_id: str | None = None
    credential: dict[str, Any] | None = None


@dataclass(frozen=True)
class Checked:
    amr: tuple[str, ...]
    method: str  # totp | recovery_code | webauthn
    factor_id: str | None


async def check(
    session: AsyncSession, *, pending: MfaChallenge, user: User, proof: Proof,
    context: RequestContext, settings: Settings,
) -> Checked:  # fmt: skip
    """The proof's methods when it holds; ProofRefused otherwise."""
    if proof.code is not None:
        return await _check_code(session, user=user, code=proof.code, settings=settings)
    if proof.recovery_code is not None:
        return await _use_recovery_code(
            session, user=user, code=proof.recovery_code, context=context, settings=settings
        )
    if proof.factor_id is not None and proof.credential is not None:
        return await _check_assertion(
            session, pending=pending, user=user, factor_id=proof.factor_id,
            credential=proof.credential, settings=settings,
        )  # fmt: skip
    raise InvalidInput("Send a code, a recoveryCode, or a factorId with its credential.")


async def _check_code(
    session: AsyncSession, *, user: User, code: str, settings: Settings
) -> Checked:
    """Tried against each confirmed TOTP factor; a matching step already used is a replay."""
    now = utcnow()
    for listed in await repository.confirmed_factors(session, user_id=user.id):
        if listed.type != FactorType.TOTP:
            continue
        factor = await repository.factor_for_update(session, user_id=user.id, factor_id=listed.id)
        if factor is None:
            continue
        step = totp.matching_step(service.totp_secret(factor, settings), code, now=now)
        if step is None:
            continue
        if factor.last_used_step is not None and step <= factor.last_used_step:
            raise ProofRefused(
                "This code was already used; wait for the next one.", code="mfa_code_reused"
            )
        factor.last_used_step = step
        factor.last_used_at = now
        return Checked(TOTP_AMR, "totp", factor.id)
    raise ProofRefused("The code is not correct.", code="invalid_mfa_code")


async def _use_recovery_code(
    session: AsyncSession, *, user: User, code: str, context: RequestContext, settings: Settings
) -> Checked:
    digest = recovery.digest(settings.secret_key, code)
    row = await repository.unused_code_for_update(session, user_id=user.id, digest=digest)
    if row is None:
        raise ProofRefused(
            "The recovery code is not valid or was already used.", code="invalid_mfa_code"
        )
    row.used_at = utcnow()
    await session.flush()
    remaining = await repository.count_unused_codes(session, user_id=user.id)
    await audit.record(
        session, action=AuditAction.RECOVERY_CODE_USED, resource=AuditResource.AUTH,
        context=context, user_id=user.id, details={"remaining": remaining},
    )  # fmt: skip
    await notices.recovery_code_used(session, user=user, remaining=remaining)
    return Checked(TOTP_AMR, "recovery_code", None)


async def passkey_factor(session: AsyncSession, *, user_id: str, factor_id: str) -> MfaFactor:
    """One of the account's confirmed passkeys, locked; NotFound otherwise."""
    factor = await repository.factor_for_update(session, user_id=user_id, factor_id=factor_id)
    if factor is None or factor.type != FactorType.WEBAUTHN or factor.confirmed_at is None:
        raise NotFound("No such passkey for this sign-in.", code="factor_not_found")
    return factor


async def passkey_options(
    session: AsyncSession, *, pending: MfaChallenge, factor_id: str, settings: Settings
) -> dict[str, Any]:
    """Assertion options for one passkey; the challenge is kept on the pending sign-in."""
    factor = await passkey_factor(session, user_id=pending.user_id, factor_id=factor_id)
    assert factor.credential_id is not None  # noqa: S101 - passkeys always hold one
    options, challenge = passkeys.authentication_options(
        passkeys.relying_party(settings), credential_id=factor.credential_id
    )
    pending.webauthn_challenge = challenge
    await session.flush()
    return options


async def _check_assertion(
    session: AsyncSession, *, pending: MfaChallenge, user: User, factor_id: str,
    credential: dict[str, Any], settings: Settings,
) -> Checked:  # fmt: skip
    factor = await passkey_factor(session, user_id=user.id, factor_id=factor_id)
    challenge, pending.webauthn_challenge = pending.webauthn_challenge, None  # single use
    await session.flush()
    if challenge is None:
        # Conflict, not InvalidInput: the body is well-formed, the sign-in has no challenge yet.
        raise Conflict(
            "Ask POST /auth/mfa/challenge for this passkey first.", code="mfa_challenge_required"
        )
    assert factor.credential_id is not None  # noqa: S101 - passkeys always hold both
    assert factor.public_key is not None  # noqa: S101
    try:
        factor.sign_count = passkeys.verify_assertion(
            passkeys.relying_party(settings), credential=credential, challenge=challenge,
            credential_id=factor.credential_id, public_key=factor.public_key,
            sign_count=factor.sign_count,
        )  # fmt: skip
    except passkeys.PasskeyRefused as error:
        raise ProofRefused(
            "The passkey's response was not accepted.", code="invalid_passkey"
        ) from error
    factor.last_used_at = utcnow()
    return Checked(PASSKEY_AMR, "webauthn", factor.id)


async def verified(
    session: AsyncSession, *, pending: MfaChallenge, user_id: str, checked: Checked,
    context: RequestContext,
) -> None:  # fmt: skip
    """The pending sign-in is spent and its second factor audited."""
    await repository.delete_challenge(session, pending)
    await audit.record(
        session, action=AuditAction.MFA_VERIFIED, resource=AuditResource.AUTH, context=context,
        user_id=user_id, details={"method": checked.method, "factorId": checked.factor_id},
    )  # fmt: skip
