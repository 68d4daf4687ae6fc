"""The API's own-trail page is written by PostgreSQL: it must be, value for value, the JSON
pydantic writes for the same rows through AuditLogPage (the declared response model), page
after page with the same cursors, whatever the rows hold."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import service
from pe_portal.audit.models import AuditAction
from pe_portal.audit.schemas import TRAIL_ROW_WIRE_NAMES, AuditLogPage, trail_page_json

USER = "json-user"

# (created_at, resource, details, ip_address, user_agent): what a row may hold at the edges.
_ROWS: list[tuple[str, str | None, Any, str | None, str | None]] = [
    ("2026-03-01 12:00:00", "AUTH", None, None, None),
    ("2026-03-01 12:00:00.123", None, {}, "10.0.0.1", "Mozilla/5.0"),
    ("2026-03-01 12:00:00.001", "SESSION", {"a": {"b": [1, 2.5, True, None, "x"]}}, "::1", ""),
    ("2026-02-28 23:59:59.999", "USER", {"name": "é中😀", "q": 'say "hi" \\ now'}, None, "é"),
    (
        "2026-02-01 00:00:00",
        "AUTH",
        {"ctl": "\u0001\n\t\u001f", "big": 10**20},
        "2001:db8::1",
        "\\",
    ),
    ("2025-12-31 23:59:59.5", "AUTH", {"long": "x" * 5000}, None, 'a "quoted" agent'),
    ("2024-02-29 00:00:00.010", None, {"nested": [[], {}, [{"k": -0.0}]]}, None, None),
]


@pytest.fixture
async def rows(db_session: AsyncSession) -> None:
    await db_session.execute(
        text("INSERT INTO users (id, email, password) VALUES (:id, 'json@example.com', 'x')"),
        {"id": USER},
    )
    for at, *_ in _ROWS:
        month = datetime.fromisoformat(at).date().replace(day=1)
        await db_session.execute(text("SELECT audit_ensure_partition(:m)"), {"m": month})
    for index, (at, resource, details, ip, agent) in enumerate(_ROWS):
        await db_session.execute(
            text(
                "INSERT INTO audit_logs (id, user_id, action, resource, details, ip_address,"
                " user_agent, created_at) VALUES (:id, :user, 'LOGIN', :resource,"
                " CAST(:details AS jsonb), :ip, :agent, :at)"
            ),
            {
                "id": f"json-row-{index}",
                "user": USER,
                "resource": resource,
                "details": None if details is None else json.dumps(details),
                "ip": ip,
                "agent": agent,
                "at": datetime.fromisoformat(at),
            },
        )


async def _pydantic_page(session: AsyncSession, query: service.TrailQuery) -> dict[str, Any]:
    page = await service.trail(session, query)
    model = AuditLogPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})
    return json.loads(model.model_dump_json(by_alias=True))  # type: ignore[no-any-return]


async def _postgres_page(session: AsyncSession, query: service.TrailQuery) -> dict[str, Any]:
    page = await service.trail_json(session, query, wire_names=TRAIL_ROW_WIRE_NAMES)
    return json.loads(trail_page_json(page.items, page.next_cursor))  # type: ignore[no-any-return]


@pytest.mark.usefixtures("rows")
@pytest.mark.parametrize("limit", [1, 3, 50])
@pytest.mark.parametrize("action", [None, AuditAction.LOGIN, AuditAction.LOGOUT])
async def test_every_page_is_what_pydantic_writes(
    db_session: AsyncSession, limit: int, action: AuditAction | None
) -> None:
    cursor: str | None = None
    seen = 0
    while True:
        query = service.TrailQuery(USER, action=action, cursor=cursor, limit=limit)
        expected = await _pydantic_page(db_session, query)
        assert await _postgres_page(db_session, query) == expected
        seen += len(expected["items"])
        cursor = expected["nextCursor"]
        if cursor is None:
            break
    assert seen == (0 if action is AuditAction.LOGOUT else len(_ROWS))


@pytest.mark.usefixtures("rows")
async def test_times_are_written_as_pydantic_writes_them(db_session: AsyncSession) -> None:
    """Byte for byte: a whole second has no fraction, any other six digits, and UTC is `Z`."""
    page = await service.trail_json(
        db_session, service.TrailQuery(USER), wire_names=TRAIL_ROW_WIRE_NAMES
    )
    times = [json.loads(item)["createdAt"] for item in page.items]
    assert times[:3] == [
        "2026-03-01T12:00:00.123000Z",
        "2026-03-01T12:00:00.001000Z",
        "2026-03-01T12:00:00Z",
    ]
    assert times[-1] == "2024-02-29T00:00:00.010000Z"


def test_the_wire_names_are_the_response_models() -> None:
    assert dict(TRAIL_ROW_WIRE_NAMES) == {
        "id": "id",
        "action": "action",
        "resource": "resource",
        "details": "details",
        "ip_address": "ipAddress",
        "user_agent": "userAgent",
        "created_at": "createdAt",
    }
