"""The account's factors: TOTP and passkey enrolment, listing, removal, recovery codes, the
operators' reset and the re-encryption of seeds under a new key (DESIGN "Second factor")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import service as audit
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.base import new_id
from pe_portal.db.engine import DriverConnections
from pe_portal.errors import Conflict, InvalidInput, NotFound
from pe_portal.mfa import challenges, passkeys, recovery, repository, totp
from pe_portal.mfa.models import FactorType, MfaFactor, RecoveryCode
from pe_portal.security.secretbox import secret_box
from pe_portal.users import notices
from pe_portal.users.models import User


@dataclass(frozen=True)
class TotpEnrolment:
    factor: MfaFactor
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Enrolled:
    factor: MfaFactor
    recovery_codes: list[str] | None  # only when it is the account's first factor


async def delete_expired_challenges(session: AsyncSession) -> int:
    """Forget the pending sign-ins and registrations that expired (the cleanup job)."""
    return await repository.delete_expired_challenges(session, now=utcnow())


async def confirmed_factors(session: AsyncSession, *, user_id: str) -> list[MfaFactor]:
    return await repository.confirmed_factors(session, user_id=user_id)


def second_factor_check(connections: DriverConnections) -> Callable[[str], Awaitable[bool]]:
    """`has(user_id) -> bool` on a driver connection, for the step-up dependency."""

    async def has(user_id: str) -> bool:
        async with connections() as connection:
            return await repository.has_confirmed_factor(connection, user_id=user_id)

    return has


async def _refuse_beyond_limit(session: AsyncSession, *, user_id: str, settings: Settings) -> None:
    if await repository.count_factors(session, user_id=user_id) >= settings.mfa_max_factors:
        raise Conflict(
            f"An account holds at most {settings.mfa_max_factors} factors; remove one first.",
            code="too_many_factors",
        )


async def start_totp(
    session: AsyncSession, *, user: User, name: str, settings: Settings
) -> TotpEnrolment:
    """A pending TOTP factor (replacing any other pending one) and what the app needs."""
    await repository.delete_pending_totp(session, user_id=user.id)
    await _refuse_beyond_limit(session, user_id=user.id, settings=settings)
    secret = totp.new_secret()
    factor = MfaFactor(id=new_id(), user_id=user.id, type=FactorType.TOTP, name=name, sign_count=0)
    factor.secret = secret_box(settings).seal(secret.encode(), bound_to=factor.id)
    await repository.add(session, factor)
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings.mfa_issuer)
    return TotpEnrolment(factor, secret, uri, totp.qr_svg(uri))


async def pending_totp(
    session: AsyncSession, *, user: User, factor_id: str, settings: Settings
) -> TotpEnrolment:
    """A pending TOTP enrolment shown again (its code was wrong): the same seed and QR code."""
    factor = await repository.factor_for_update(session, user_id=user.id, factor_id=factor_id)
    if factor is None or factor.type != FactorType.TOTP or factor.confirmed_at is not None:
        raise NotFound("No such factor.", code="factor_not_found")
    secret = totp_secret(factor, settings)
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings.mfa_issuer)
    return TotpEnrolment(factor, secret, uri, totp.qr_svg(uri))


async def unused_recovery_codes(session: AsyncSession, *, user_id: str) -> int:
    return await repository.count_unused_codes(session, user_id=user_id)


def totp_secret(factor: MfaFactor, settings: Settings) -> str:
    """The factor's seed, opened (SecretBoxError when its key is gone)."""
    assert factor.secret is not None  # noqa: S101 - TOTP factors always hold one
    return secret_box(settings).open(factor.secret, bound_to=factor.id).decode()


async def confirm_totp(
    session: AsyncSession, *, user: User, factor_id: str, code: str, context: RequestContext,
    settings: Settings,
) -> Enrolled:  # fmt: skip
    """Activate a pending TOTP factor with a code from the app; a wrong code changes nothing."""
    factor = await repository.factor_for_update(session, user_id=user.id, factor_id=factor_id)
    if factor is None or factor.type != FactorType.TOTP:
        raise NotFound("No such factor.", code="factor_not_found")
    if factor.confirmed_at is not None:
        raise Conflict("This factor is already confirmed.", code="factor_already_confirmed")
    step = totp.matching_step(totp_secret(factor, settings), code, now=utcnow())
    if step is None:
        raise InvalidInput(
            "The code is not correct; check the time on the device.", code="invalid_mfa_code"
        )
    factor.last_used_step = step  # the confirming code cannot sign in as well
    return await _enrolled(session, user=user, factor=factor, context=context, settings=settings)


async def _enrolled(
    session: AsyncSession, *, user: User, factor: MfaFactor, context: RequestContext,
    settings: Settings,
) -> Enrolled:  # fmt: skip
    """The common end of an enrolment: confirmed, audited, notified, first codes if first."""
    first = not await repository.confirmed_factors(session, user_id=user.id)
    factor.confirmed_at = utcnow()
    await session.flush()
    await audit.record(
        session, action=AuditAction.MFA_ENROLLED, resource=AuditResource.AUTH, context=context,
        user_id=user.id, details={"factorId": factor.id, "type": factor.type},
    )  # fmt: skip
    codes = (
        await _new_recovery_codes(session, user_id=user.id, settings=settings) if first else None
    )
    await notices.factor_changed(session, user=user, kind=factor.type, name=factor.name, added=True)
    return Enrolled(factor, codes)


async def _new_recovery_codes(
    session: AsyncSession, *, user_id: str, settings: Settings
) -> list[str]:
    codes = recovery.new_codes()
    rows = [
        RecoveryCode(
            id=new_id(), user_id=user_id, digest=recovery.digest(settings.secret_key, code)
        )
        for code in codes
    ]
    await repository.replace_codes(session, user_id=user_id, codes=rows)
    return codes


async def passkey_options(
    session: AsyncSession, *, user: User, settings: Settings
) -> dict[str, Any]:
    """Creation options for a new passkey; their challenge is kept for the reply."""
    await _refuse_beyond_limit(session, user_id=user.id, settings=settings)
    known = await repository.confirmed_factors(session, user_id=user.id)
    options, challenge = passkeys.registration_options(
        passkeys.relying_party(settings), user_id=user.id, email=user.email,
        existing=[factor.credential_id for factor in known if factor.credential_id],
    )  # fmt: skip
    await challenges.keep_registration_challenge(
        session, user_id=user.id, challenge=challenge, settings=settings
    )
    return options


async def register_passkey(
    session: AsyncSession, *, user: User, credential: dict[str, Any], name: str,
    context: RequestContext, settings: Settings,
) -> Enrolled:  # fmt: skip
    """Store a new passkey from the browser's reply to the options; a refused reply changes
    nothing but spending the challenge."""
    challenge = await challenges.take_registration_challenge(session, user_id=user.id)
    try:
        created = passkeys.verify_registration(
            passkeys.relying_party(settings), credential=credential, challenge=challenge
        )
    except passkeys.PasskeyRefused as error:
        raise InvalidInput(
            "The passkey could not be registered: the browser's reply was not accepted.",
            code="invalid_passkey", details={"reason": str(error)[:200]}, keep_changes=True,
        ) from error  # fmt: skip
    if await repository.credential_known(session, credential_id=created.credential_id):
        raise Conflict("This passkey is already registered.", code="passkey_already_registered")
    factor = MfaFactor(
        id=new_id(), user_id=user.id, type=FactorType.WEBAUTHN, name=name,
        credential_id=created.credential_id, public_key=created.public_key,
        sign_count=created.sign_count,
    )  # fmt: skip
    await repository.add(session, factor)
    return await _enrolled(session, user=user, factor=factor, context=context, settings=settings)


async def remove_factor(
    session: AsyncSession, *, user: User, factor_id: str, context: RequestContext
) -> None:
    """Remove one factor; with the last one the recovery codes go too."""
    factor = await repository.factor_for_update(session, user_id=user.id, factor_id=factor_id)
    if factor is None or factor.confirmed_at is None:
        raise NotFound("No such factor.", code="factor_not_found")
    await repository.delete_factors(session, user_id=user.id, factor_id=factor.id)
    if not await repository.confirmed_factors(session, user_id=user.id):
        await repository.delete_codes(session, user_id=user.id)
    await _removed(session, user=user, factors=[factor], context=context)


async def _removed(
    session: AsyncSession, *, user: User, factors: list[MfaFactor], context: RequestContext
) -> None:
    """Audit and announce removed factors; an operator's removal (CLI, studio: the context's
    actor, which the audit row names) is said to be one in the notice."""
    for factor in factors:
        await audit.record(
            session, action=AuditAction.MFA_REMOVED, resource=AuditResource.AUTH,
            context=context, user_id=user.id, details={"factorId": factor.id, "type": factor.type},
        )  # fmt: skip
        await notices.factor_changed(
            session, user=user, kind=factor.type, name=factor.name, added=False,
            by_operator=context.actor is not None,
        )  # fmt: skip


async def regenerate_recovery_codes(
    session: AsyncSession, *, user: User, context: RequestContext, settings: Settings
) -> list[str]:
    """A new set of codes, the old set void; only for an account with a factor."""
    if not await repository.confirmed_factors(session, user_id=user.id):
        raise Conflict("Set up a second factor first.", code="mfa_not_enabled")
    codes = await _new_recovery_codes(session, user_id=user.id, settings=settings)
    await audit.record(
        session, action=AuditAction.RECOVERY_CODES_REGENERATED, resource=AuditResource.AUTH,
        context=context, user_id=user.id, details={"count": len(codes)},
    )  # fmt: skip
    return codes


async def reset(session: AsyncSession, *, user: User, context: RequestContext) -> int:
    """An operator (`context.actor`) removes every factor and recovery code of the account (a
    lost device); each removal audited with the operator, the user told. How many went."""
    factors = await repository.confirmed_factors(session, user_id=user.id)
    await repository.delete_factors(session, user_id=user.id, factor_id=None)
    await repository.delete_codes(session, user_id=user.id)
    await repository.delete_challenges(session, user_id=user.id)
    await _removed(session, user=user, factors=factors, context=context)
    return len(factors)


async def rotate_keys(session: AsyncSession, *, settings: Settings, context: RequestContext) -> int:
    """Re-seal every TOTP seed not under the current MFA_ENCRYPTION_KEY; how many."""
    box = secret_box(settings)
    rotated = 0
    for factor in await repository.sealed_totp_factors(session):
        assert factor.secret is not None  # noqa: S101 - selected for it
        if not box.is_current(factor.secret):
            factor.secret = box.seal(
                box.open(factor.secret, bound_to=factor.id), bound_to=factor.id
            )
            rotated += 1
    await session.flush()
    await audit.record(
        session, action=AuditAction.KEYS_ROTATED, resource=AuditResource.AUTH, context=context,
        details={"keys": "mfa", "kid": box.current, "reencrypted": rotated},
    )  # fmt: skip
    return rotated
