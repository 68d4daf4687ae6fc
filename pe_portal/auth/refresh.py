"""Refresh: a refresh token exchanged for its successor on the same session row, reuse detected
and answered (DESIGN 6); and the per-request check of the session and account behind an access
token, batched. Both span a session and its account, so they live with sign-in, above both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal import metrics
from pe_portal.audit import service as audit
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.auth import repository
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.db.batch import BatchedLookup
from pe_portal.db.engine import DriverConnection, DriverConnections, unit_of_work
from pe_portal.errors import Unauthenticated
from pe_portal.principal import Account, ActiveAccounts, SessionOfUser
from pe_portal.security import tokens
from pe_portal.sessions import service as sessions
from pe_portal.sessions.models import Session
from pe_portal.users import notices
from pe_portal.users.models import User


@dataclass(frozen=True)
class Rotation:
    session_id: str
    user: Account | User
    refresh_token: tokens.RefreshToken
    replayed: bool  # True: a just-rotated token inside the grace window got the current one
    assurance: tokens.Assurance  # the session's, kept through every refresh


async def rotate(
    units: async_sessionmaker[AsyncSession],
    connections: DriverConnections,
    *,
    presented: str,
    context: RequestContext,
    settings: Settings,
) -> Rotation:
    """Exchange a refresh token for its successor on the same row, with its audit row (DESIGN 6).

    The common case (the current token of a live session) is one statement on a driver
    connection, the audit row included: on this path the ORM's unit of work had cost more CPU
    than everything else (docs/benchmarks.md). Every other case takes the row's lock in the
    unit of work."""
    token = tokens.parse_refresh_token(settings.secret_key, presented)
    successor = tokens.refresh_token(settings.secret_key, token.session_id, token.generation + 1)
    now = utcnow()
    refreshed = audit.entry(  # its user: the session's, filled in by the statement
        action=AuditAction.TOKEN_REFRESH, resource=AuditResource.AUTH, context=context,
        details={"sessionId": token.session_id},
    )  # fmt: skip
    async with connections() as connection:
        account = await repository.rotate_current(
            connection, session_id=token.session_id, current=token.digest,
            successor=successor.digest, now=now, ip_address=context.ip_address,
            sliding_expiry=now + timedelta(seconds=settings.refresh_token_ttl),
            max_age=timedelta(seconds=settings.session_max_age), audit=refreshed,
        )  # fmt: skip
    if account is not None:
        user, aal, signed_in_at = account
        assurance = tokens.session_assurance(aal, signed_in_at)
        return Rotation(token.session_id, user, successor, replayed=False, assurance=assurance)
    async with unit_of_work(units) as session:
        return await _rotate_locked(session, token, successor, context=context, settings=settings)


async def _rotate_locked(
    session: AsyncSession,
    token: tokens.RefreshToken,
    successor: tokens.RefreshToken,
    *,
    context: RequestContext,
    settings: Settings,
) -> Rotation:
    """The token was not the live current one of an active account: say why, under the lock."""
    found = await repository.get_with_user_for_update(session, token.session_id)
    now = utcnow()
    if found is None or found[0].is_revoked:
        raise Unauthenticated("This session has ended; sign in again.", code="session_revoked")
    row, user = found
    if row.expires_at <= now:
        raise Unauthenticated("This session has expired; sign in again.", code="session_expired")
    within_grace = now - row.updated_at <= timedelta(seconds=settings.refresh_reuse_grace)
    replayed = successor.digest == row.refresh_token and within_grace
    if token.digest != row.refresh_token and not replayed:
        await _revoke_for_reuse(session, row=row, context=context, now=now)
        raise Unauthenticated(
            "This refresh token was already used; the session has been revoked for safety.",
            code="token_reused",
            keep_changes=True,
        )
    if not user.is_active:
        raise Unauthenticated("This account is deactivated.", code="account_inactive")
    if not replayed:
        # Current after all: the account was reactivated after the one-statement attempt.
        row.refresh_token = successor.digest
        row.expires_at = sessions.sliding_expiry(row.created_at, now, settings)
        row.updated_at = now
        row.ip_address = context.ip_address or row.ip_address
        await audit.record(
            session, action=AuditAction.TOKEN_REFRESH, resource=AuditResource.AUTH,
            context=context, user_id=user.id, details={"sessionId": row.id},
        )  # fmt: skip
    assurance = tokens.session_assurance(row.aal, row.created_at)
    return Rotation(row.id, user, successor, replayed=replayed, assurance=assurance)


async def _revoke_for_reuse(
    session: AsyncSession, *, row: Session, context: RequestContext, now: datetime
) -> None:
    row.is_revoked = True
    row.updated_at = now
    await audit.record(
        session,
        action=AuditAction.TOKEN_REUSE_DETECTED,
        resource=AuditResource.SESSION,
        context=context,
        user_id=row.user_id,
        details={"sessionId": row.id},
    )
    metrics.TOKEN_REUSE.inc()
    await notices.token_reuse(session, user_id=row.user_id)


def active_accounts(connections: DriverConnections) -> ActiveAccounts:
    """The check every authenticated request makes, batched across concurrent requests."""

    async def fetch(
        connection: DriverConnection, pairs: Sequence[SessionOfUser]
    ) -> dict[SessionOfUser, Account]:
        return await repository.active_accounts(connection, pairs, now=utcnow())

    return BatchedLookup(connections, fetch)
