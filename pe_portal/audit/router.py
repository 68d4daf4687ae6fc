"""`/api/v1/users/me/audit-logs`: the signed-in user's own activity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from pe_portal.audit import service
from pe_portal.audit.models import SEARCH_MAX_LENGTH, AuditAction
from pe_portal.audit.schemas import AuditLogPage, IsoDateTime
from pe_portal.errors import InvalidInput
from pe_portal.http.errors import raises
from pe_portal.http.principal import PrincipalDep
from pe_portal.http.reads import ReplicaReadDep
from pe_portal.http.routing import DocumentedRoute

router = APIRouter(prefix="/users/me/audit-logs", tags=["audit"], route_class=DocumentedRoute)

MAX_LIMIT = 200


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    """Naive times are taken as UTC. A time beyond what UTC can express (year 1 with a positive
    offset, year 9999 with a negative one) is before or after every row: the nearest bound."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if value.year == _EARLIEST.year else _LATEST


@router.get("", response_model=AuditLogPage)
@raises(InvalidInput)
async def list_audit_logs(
    principal: PrincipalDep,
    session: ReplicaReadDep,
    action: AuditAction | None = None,
    since: Annotated[IsoDateTime | None, Query(description="inclusive, ISO 8601")] = None,
    until: Annotated[IsoDateTime | None, Query(description="exclusive, ISO 8601")] = None,
    cursor: Annotated[str | None, Query(max_length=100, pattern=service.CURSOR_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=SEARCH_MAX_LENGTH,
            description="the start of the IP address, a fragment of the user agent, or words of the details",
        ),
    ] = None,
) -> AuditLogPage:
    """The user's own audit trail, newest first; pass `nextCursor` back as `cursor`."""
    page = await service.trail(
        session,
        user_id=principal.user_id,
        action=action,
        since=_utc(since),
        until=_utc(until),
        cursor=cursor,
        limit=limit,
        q=q,
    )
    # One validation of the whole page; FastAPI then serialises the instance as it is.
    return AuditLogPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})
