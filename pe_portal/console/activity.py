"""`/account/activity`: the person's own audit trail, filtered by action and dates (days in
their own time zone), newest first, a page at a time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Request, Response

from pe_portal import i18n
from pe_portal.audit import service as audit
from pe_portal.audit.models import SEARCH_MAX_LENGTH, AuditAction
from pe_portal.console import messages, pages
from pe_portal.console.errors import ConsoleRoute
from pe_portal.console.visitor import VisitorDep
from pe_portal.db.engine import unit_of_work
from pe_portal.errors import InvalidInput

router = APIRouter(prefix="/account/activity", route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZE = 25


def _day(value: str, *, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as error:
        raise InvalidInput("Give a date as YYYY-MM-DD.", code="invalid_time",
                           details=[{"field": field}]) from error  # fmt: skip


def _search(value: str) -> str | None:
    """The words to look for, under the API's limit for `q` (longer is refused, not cut)."""
    if len(value) > SEARCH_MAX_LENGTH:
        raise InvalidInput(f"Search for at most {SEARCH_MAX_LENGTH} characters.",
                           code="field_too_long", details=[{"field": "q"}])  # fmt: skip
    return value.strip() or None


def _start_of(day: date | None, zone_name: str | None) -> datetime | None:
    """Midnight of `day` where the person lives, as the UTC instant the trail is queried by."""
    if day is None:
        return None
    return datetime.combine(day, time.min, tzinfo=i18n.resolve_zone(zone_name))


@router.get("")
async def activity(request: Request, visitor: VisitorDep) -> Response:
    params = request.query_params
    language = pages.language(request)
    names = messages.action_names(language)
    chosen = params.get("action", "")
    action = AuditAction(chosen) if chosen in names else None
    zone = pages.zone_name(request)
    problem = None
    since = until = None
    try:
        first, last = (
            _day(params.get("from", ""), field="from"),
            _day(params.get("to", ""), field="to"),
        )
        search = _search(params.get("q", ""))
        since = _start_of(first, zone)
        until = _start_of(last + timedelta(days=1) if last else None, zone)  # "to" is inclusive
        async with unit_of_work(request.app.state.read_sessionmaker) as session:
            page = await audit.trail(
                session, user_id=visitor.user_id, action=action, since=since, until=until,
                cursor=params.get("cursor") or None, limit=PAGE_SIZE, q=search,
            )  # fmt: skip
    except InvalidInput as error:
        page, problem = audit.TrailPage([], None), messages.describe(error, language)
    filters = {
        key: params.get(key, "")[:SEARCH_MAX_LENGTH] for key in ("action", "from", "to", "q")
    }
    return pages.render(
        request, "activity.html", status=422 if problem else 200, signed_in=True,
        rows=page.items, next_cursor=page.next_cursor, names=names, filters=filters,
        problem=problem, first_page=not params.get("cursor"),
    )  # fmt: skip
