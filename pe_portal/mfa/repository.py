"""SQL of the second factor: factors, recovery codes, challenges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.db.engine import DriverConnection
from pe_portal.mfa.models import MfaChallenge, MfaFactor, RecoveryCode


async def add(session: AsyncSession, row: MfaFactor | RecoveryCode | MfaChallenge) -> None:
    session.add(row)
    await session.flush()


async def confirmed_factors(session: AsyncSession, *, user_id: str) -> list[MfaFactor]:
    query = (
        select(MfaFactor)
        .where(MfaFactor.user_id == user_id, MfaFactor.confirmed_at.is_not(None))
        .order_by(MfaFactor.created_at, MfaFactor.id)
    )
    return list((await session.scalars(query)).all())


async def count_factors(session: AsyncSession, *, user_id: str) -> int:
    query = select(func.count()).select_from(MfaFactor).where(MfaFactor.user_id == user_id)
    return int(await session.scalar(query) or 0)


async def factor_for_update(
    session: AsyncSession, *, user_id: str, factor_id: str
) -> MfaFactor | None:
    """One of the user's factors, locked (two uses of one TOTP step serialise on it)."""
    query = (
        select(MfaFactor)
        .where(MfaFactor.id == factor_id, MfaFactor.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return await session.scalar(query)


async def delete_pending_totp(session: AsyncSession, *, user_id: str) -> None:
    await session.execute(
        delete(MfaFactor).where(
            MfaFactor.user_id == user_id,
            MfaFactor.type == "totp",
            MfaFactor.confirmed_at.is_(None),
        )
    )


async def delete_factors(session: AsyncSession, *, user_id: str, factor_id: str | None) -> int:
    """Delete one factor of the user (or all of them); how many went."""
    statement = delete(MfaFactor).where(MfaFactor.user_id == user_id)
    if factor_id is not None:
        statement = statement.where(MfaFactor.id == factor_id)
    result = await session.execute(statement.execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


async def credential_known(session: AsyncSession, *, credential_id: bytes) -> bool:
    query = select(MfaFactor.id).where(MfaFactor.credential_id == credential_id)
    return await session.scalar(query) is not None


async def sealed_totp_factors(session: AsyncSession) -> Sequence[MfaFactor]:
    """Every factor holding a sealed seed, locked for re-encryption."""
    query = select(MfaFactor).where(MfaFactor.secret.is_not(None)).with_for_update()
    return (await session.scalars(query)).all()


async def has_confirmed_factor(connection: DriverConnection, *, user_id: str) -> bool:
    """Straight on the driver: the step-up check runs outside any unit of work."""
    found = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
        user_id,
    )
    return bool(found)


async def replace_codes(session: AsyncSession, *, user_id: str, codes: list[RecoveryCode]) -> None:
    await delete_codes(session, user_id=user_id)
    session.add_all(codes)
    await session.flush()


async def delete_codes(session: AsyncSession, *, user_id: str) -> None:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


async def unused_code_for_update(
    session: AsyncSession, *, user_id: str, digest: str
) -> RecoveryCode | None:
    query = (
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.digest == digest,
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    return await session.scalar(query)


async def count_unused_codes(session: AsyncSession, *, user_id: str) -> int:
    query = (
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return int(await session.scalar(query) or 0)


async def challenge_for_update(
    session: AsyncSession, *, token_digest: str, purpose: str
) -> MfaChallenge | None:
    query = (
        select(MfaChallenge)
        .where(MfaChallenge.token_digest == token_digest, MfaChallenge.purpose == purpose)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return await session.scalar(query)


async def registration_for_update(session: AsyncSession, *, user_id: str) -> MfaChallenge | None:
    query = (
        select(MfaChallenge)
        .where(MfaChallenge.user_id == user_id, MfaChallenge.purpose == "registration")
        .with_for_update()
    )
    return await session.scalar(query)


async def delete_challenges(
    session: AsyncSession, *, user_id: str, purpose: str | None = None
) -> None:
    statement = delete(MfaChallenge).where(MfaChallenge.user_id == user_id)
    if purpose is not None:
        statement = statement.where(MfaChallenge.purpose == purpose)
    await session.execute(statement)


async def delete_challenge(session: AsyncSession, row: MfaChallenge) -> None:
    await session.delete(row)
    await session.flush()


async def delete_expired_challenges(
    session: AsyncSession, *, now: datetime, user_id: str | None = None
) -> int:
    """Delete the expired challenges (of one user, or everyone's); how many."""
    statement = delete(MfaChallenge).where(MfaChallenge.expires_at <= now)
    if user_id is not None:
        statement = statement.where(MfaChallenge.user_id == user_id)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
