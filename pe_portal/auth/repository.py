"""SQL of the auth feature: per-e-mail serialisation, the per-IP rate-limit counters, and the
statements that read a session with its account (the per-request check, refresh)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditLog, NewEntry, details_json
from pe_portal.auth.models import AuthRateLimit
from pe_portal.db.base import aware_utc, naive_utc
from pe_portal.db.engine import DriverConnection
from pe_portal.principal import Account, SessionOfUser
from pe_portal.sessions.models import Session
from pe_portal.users.models import User


async def lock_email(session: AsyncSession, *, email_digest: str) -> None:
    """A transaction-scoped advisory lock on one e-mail digest."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(email_digest, 0)))
    )


async def count_hit(session: AsyncSession, *, key: str, window_start: datetime) -> int:
    """Add one hit to the key's current window; the window's total."""
    statement = (
        insert(AuthRateLimit)
        .values(key=key, window_start=window_start, hits=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"hits": AuthRateLimit.hits + 1}
        )
        .returning(AuthRateLimit.hits)
    )
    return int((await session.execute(statement)).scalar_one())


async def forget_before(session: AsyncSession, *, key: str, window_start: datetime) -> None:
    await session.execute(
        delete(AuthRateLimit).where(
            AuthRateLimit.key == key, AuthRateLimit.window_start < window_start
        )
    )


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
              u.last_login, u.created_at, u.updated_at,
              s.aal AS session_aal, s.created_at AS session_created_at
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
) -> tuple[Account, int, datetime] | None:
    """Replace digest `current` by `successor` if it is the session's live token and the account
    active, recording `audit` for that account; the account with the session's `aal` and
    creation time, or None (nothing written)."""
    row = await connection.fetchrow(
        _ROTATE_CURRENT, session_id, current, successor, naive_utc(now), ip_address,
        naive_utc(sliding_expiry), max_age,
        audit["id"], audit["action"], audit["resource"], details_json(audit),
        audit["ip_address"], audit["user_agent"], naive_utc(audit["created_at"]),
    )  # fmt: skip
    if row is None:
        return None
    return _account(row), row["session_aal"], aware_utc(row["session_created_at"])


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


async def nth_recent_failure(
    session: AsyncSession,
    *,
    email_digest: str,
    since: datetime,
    n: int,
    actions: Sequence[str],
    reasons: Sequence[str],
) -> datetime | None:
    """When the n-th most recent failure (one of `actions`, for one of `reasons`) for this
    e-mail happened, if within the window (served by idx_audit_logs_sign_in_failed, whose
    predicate covers the failed sign-in actions). Not None means the account is locked."""
    query = (
        select(AuditLog.created_at)
        .where(
            # Inline values: the partial index's predicate must be provable from the statement
            # itself, also when its plan is a generic one of a prepared statement.
            AuditLog.action.in_(
                [literal(str(action), Text, literal_execute=True) for action in actions]
            ),
            AuditLog.details["emailDigest"].astext == email_digest,
            AuditLog.details["reason"].astext.in_(reasons),
            AuditLog.created_at >= since,
        )
        .order_by(AuditLog.created_at.desc())
        .offset(n - 1)
        .limit(1)
    )
    return await session.scalar(query)
