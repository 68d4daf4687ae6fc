"""SQL for sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.repository import NewEntry, details_json
from pe_portal.db.base import aware_utc, naive_utc
from pe_portal.db.engine import DriverConnection
from pe_portal.sessions.models import Session
from pe_portal.users.models import Account, User


async def find_valid_by_digest(
    session: AsyncSession, *, digest: str, now: datetime
) -> Session | None:
    """The spec's session validation: by token digest, not revoked, not expired."""
    query = select(Session).where(
        Session.refresh_token == digest,
        Session.is_revoked.is_(False),
        Session.expires_at > now,
    )
    return await session.scalar(query)


async def add(session: AsyncSession, row: Session) -> Session:
    session.add(row)
    await session.flush()
    return row


# Runs for every authenticated request, straight on the driver and batched (see BatchedLookup):
# for each (session, user) pair, the user if active and the session neither revoked nor expired;
# `i` numbers the pairs as sent. Each pair is exactly two primary-key probes whatever the
# statistics say: the liveness test sits outside the LIMIT (which PostgreSQL never pushes a
# condition through; there is at most one row anyway), so the planner cannot choose to scan the
# live-sessions index instead, which it would when it believes few sessions are live.
ACTIVE_ACCOUNTS = """
SELECT k.i, a.*
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(session_id, user_id, i)
CROSS JOIN LATERAL (
    SELECT u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_verified, u.last_login,
           u.created_at, u.updated_at,
           u.is_active AND NOT s.is_revoked AND s.expires_at > $3 AS live
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = k.session_id AND u.id = k.user_id
    LIMIT 1
) AS a
WHERE a.live
"""

# A refresh's common case in one statement: the presented digest is swapped for its successor's
# only while it is the current one, the session live and the account active, and the audit row
# is written with it (one round trip, atomic without BEGIN/COMMIT). Row locking makes concurrent
# refreshes of one token serialise: the losers re-check, match nothing and write nothing.
_ROTATE_CURRENT = """
WITH rotated AS (
    UPDATE sessions s
    SET refresh_token = $3, updated_at = $4, ip_address = COALESCE($5, s.ip_address),
        expires_at = LEAST($6, s.created_at + $7::interval)
    FROM users u
    WHERE s.id = $1 AND s.refresh_token = $2 AND NOT s.is_revoked AND s.expires_at > $4
      AND u.id = s.user_id AND u.is_active
    RETURNING u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_verified,
              u.last_login, u.created_at, u.updated_at
), audited AS (
    INSERT INTO audit_logs
        (id, user_id, action, resource, details, ip_address, user_agent, created_at)
    SELECT $8::text, rotated.id, $9::text, $10::text, $11::jsonb, $12::text, $13::text,
           $14::timestamp
    FROM rotated
)
SELECT * FROM rotated
"""


def _account(row: Mapping[str, Any]) -> Account:
    return Account(
        id=row["id"], email=row["email"], first_name=row["first_name"],
        last_name=row["last_name"], is_active=row["is_active"], is_verified=row["is_verified"],
        last_login=aware_utc(row["last_login"]), created_at=aware_utc(row["created_at"]),
        updated_at=aware_utc(row["updated_at"]),
    )  # fmt: skip


SessionOfUser = tuple[str, str]  # (session id, user id), as an access token names them


async def active_accounts(
    connection: DriverConnection, pairs: Sequence[SessionOfUser], *, now: datetime
) -> dict[SessionOfUser, Account]:
    """The per-request check of access tokens' sessions and accounts, many at once: the account
    of each pair whose user is active and whose session is live."""
    rows = await connection.fetch(
        ACTIVE_ACCOUNTS, [pair[0] for pair in pairs], [pair[1] for pair in pairs], naive_utc(now)
    )
    return {pairs[row["i"] - 1]: _account(row) for row in rows}


async def rotate_current(
    connection: DriverConnection,
    *,
    session_id: str,
    current: str,
    successor: str,
    now: datetime,
    ip_address: str | None,
    sliding_expiry: datetime,
    max_age: timedelta,
    audit: NewEntry,
) -> Account | None:
    """Replace digest `current` by `successor` if it is the session's live token and the account
    active, recording `audit` for that account; the account, or None (nothing written)."""
    row = await connection.fetchrow(
        _ROTATE_CURRENT, session_id, current, successor, naive_utc(now), ip_address,
        naive_utc(sliding_expiry), max_age,
        audit["id"], audit["action"], audit["resource"], details_json(audit),
        audit["ip_address"], audit["user_agent"], naive_utc(audit["created_at"]),
    )  # fmt: skip
    return None if row is None else _account(row)


async def get_with_user_for_update(
    session: AsyncSession, session_id: str
) -> tuple[Session, User] | None:
    """A session row locked for this transaction (concurrent refreshes of one token serialise),
    with its user, in one round trip. Only the session row is locked."""
    query = (
        select(Session, User)
        .join(User, User.id == Session.user_id)
        .where(Session.id == session_id)
        .with_for_update(of=Session)
    )
    # populate_existing: a row already in the identity map must be re-read under the lock.
    result = await session.execute(query.execution_options(populate_existing=True))
    found = result.first()
    return None if found is None else (found[0], found[1])


async def list_live_for_user(
    session: AsyncSession, *, user_id: str, now: datetime
) -> list[Session]:
    query = (
        select(Session)
        .where(Session.user_id == user_id, Session.is_revoked.is_(False), Session.expires_at > now)
        .order_by(Session.updated_at.desc())
    )
    return list((await session.scalars(query)).all())


async def get_for_user(session: AsyncSession, *, user_id: str, session_id: str) -> Session | None:
    query = select(Session).where(Session.id == session_id, Session.user_id == user_id)
    return await session.scalar(query)


async def revoke_for_user(
    session: AsyncSession, *, user_id: str, now: datetime, keep: str | None = None
) -> int:
    """Revoke every live session of a user (except `keep`); the number revoked."""
    statement = update(Session).where(Session.user_id == user_id, Session.is_revoked.is_(False))
    if keep is not None:
        statement = statement.where(Session.id != keep)
    result = await session.execute(
        statement.values(is_revoked=True, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- maintenance: cleanup and the active-sessions gauge (used by pe_portal.ops) ------------------


def _stale(now: datetime, revoked_before: datetime) -> ColumnElement[bool]:
    # A revoked session is never written again, so `updated_at` is when it was revoked.
    return (Session.expires_at <= now) | (
        Session.is_revoked.is_(True) & (Session.updated_at <= revoked_before)
    )


async def count_stale(session: AsyncSession, *, now: datetime, revoked_before: datetime) -> int:
    """Sessions that have expired, or were revoked before `revoked_before`."""
    query = select(func.count()).select_from(Session).where(_stale(now, revoked_before))
    return int(await session.scalar(query) or 0)


async def delete_stale_batch(
    session: AsyncSession, *, now: datetime, revoked_before: datetime, limit: int
) -> int:
    """Delete up to `limit` stale sessions, skipping rows a live request holds locked."""
    batch = (
        select(Session.id)
        .where(_stale(now, revoked_before))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = delete(Session).where(Session.id.in_(batch)).returning(Session.id)
    deleted = await session.scalars(statement.execution_options(synchronize_session=False))
    return len(deleted.all())


async def count_active(session: AsyncSession, *, now: datetime) -> int:
    """Sessions neither revoked nor expired (served by idx_sessions_active)."""
    query = (
        select(func.count())
        .select_from(Session)
        .where(Session.is_revoked.is_(False), Session.expires_at > now)
    )
    return int(await session.scalar(query) or 0)
