"""Recording into the audit trail. Every feature may call `record`; audit imports no feature."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import repository
from pe_portal.audit.models import (
    SEARCH_MAX_LENGTH,
    AuditAction,
    AuditLog,
    AuditResource,
    NewEntry,
    TrailEntry,
)
from pe_portal.audit.repository import search
from pe_portal.clock import utcnow
from pe_portal.context import RequestContext
from pe_portal.db.base import new_id
from pe_portal.errors import InvalidInput


def email_digest(email: str) -> str:
    """A stable digest of a normalised e-mail: lets rows refer to an address without holding it."""
    return hashlib.sha256(email.encode()).hexdigest()


def entry(
    *,
    action: AuditAction,
    resource: AuditResource | None,
    context: RequestContext,
    user_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> NewEntry:
    """One audit row as the trail keeps it: a new id, the time, the operator of a CLI or studio
    event among the details."""
    payload = dict(details or {})
    if context.actor is not None:
        payload.setdefault("actor", context.actor)
    return NewEntry(
        id=new_id(),
        user_id=user_id,
        action=action.value,
        resource=resource.value if resource else None,
        details=payload or None,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
        created_at=utcnow(),
    )


async def record(
    session: AsyncSession,
    *,
    action: AuditAction,
    resource: AuditResource | None,
    context: RequestContext,
    user_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one audit row to the caller's transaction (it commits with the change it records)."""
    row = entry(action=action, resource=resource, context=context, user_id=user_id, details=details)
    await repository.add(session, row)


# -- reading a user's own trail (GET /users/me/audit-logs, the data export) ----------------------

# "Since the beginning" as a bound rather than no bound: the query keeps the spec's shape
# (user, action, created_at >= ...) that idx_audit_logs_composite and _user_created serve.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
# At most 14 digits of milliseconds (until the year 5138): every match decodes to a time.
CURSOR_PATTERN = r"^[0-9]{1,14}\.[A-Za-z0-9-]{1,64}$"
_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True)
class TrailPage:
    items: list[TrailEntry]
    next_cursor: str | None  # opaque; None on the last page


def encode_cursor(row: TrailEntry) -> str:
    """The keyset position after `row`: its time in Unix milliseconds, a dot, its id. Every
    string of that shape (`CURSOR_PATTERN`, which the API document states) is a position."""
    millis = round(row["created_at"].timestamp() * 1000)
    return f"{millis}.{row['id']}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; InvalidInput (`invalid_cursor`) otherwise."""
    if not _CURSOR.fullmatch(cursor):
        raise InvalidInput(
            "The cursor is not one this API hands out.",
            code="invalid_cursor",
            details=[{"field": "cursor"}],
        )
    millis, row_id = cursor.split(".")
    return datetime.fromtimestamp(int(millis) / 1000, UTC), row_id


async def trail(
    session: AsyncSession,
    *,
    user_id: str,
    action: AuditAction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
    q: str | None = None,
) -> TrailPage:
    """One page of the user's own rows, newest first; `since` inclusive, `until` exclusive;
    with `q`, only rows whose IP starts with it, whose user agent holds it or whose details hold
    its words."""
    rows = await repository.trail_for_user(
        session,
        user_id=user_id,
        since=since or BEGINNING,
        action=action.value if action else None,
        until=until,
        before=decode_cursor(cursor) if cursor else None,
        limit=limit + 1,  # one more tells whether there is a next page
        q=q,
    )
    items = rows[:limit]
    return TrailPage(items, encode_cursor(items[-1]) if len(rows) > limit else None)


async def search_rows(
    session: AsyncSession,
    *,
    term: str,
    offset: int,
    limit: int,
    equal: Mapping[str, str] | None = None,
) -> search.Found:
    """A page of all users' rows matching `term` (a user id, the start of an IP, a fragment of
    the user agent, words of the details) and holding the `equal` column values, newest first,
    and whether more follow; `term` cut to its maximum."""
    wanted = search.Wanted(term[:SEARCH_MAX_LENGTH], equal or {})
    return await search.newest_matches(session, wanted=wanted, offset=offset, limit=limit)


async def full_trail(session: AsyncSession, *, user_id: str) -> list[AuditLog]:
    """Every row of the user, newest first (for the data export)."""
    return await repository.all_for_user(session, user_id=user_id)


async def login_devices(
    session: AsyncSession, *, user_id: str, except_session: str
) -> set[tuple[str | None, str | None]]:
    """(user agent, IP) of every earlier sign-in of the user (not the session `except_session`)."""
    rows = await repository.login_devices(session, user_id=user_id, except_session=except_session)
    return set(rows)


async def count_user_rows(session: AsyncSession, *, user_id: str) -> int:
    """How many rows of the trail are the user's (served by idx_audit_logs_user)."""
    return await repository.count_for_user(session, user_id=user_id)
