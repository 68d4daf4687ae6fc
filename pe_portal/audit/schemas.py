"""API shapes of the user's own audit trail."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

from pe_portal.schemas import CamelModel

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: object) -> object:
    # Lax parsing would read a bare number as Unix time; the API documents ISO 8601 only.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


class AuditLogRead(CamelModel):
    id: str
    action: str
    resource: str | None
    details: dict[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    created_at: datetime


class AuditLogPage(CamelModel):
    items: list[AuditLogRead]
    next_cursor: str | None


# The names a trail row's fields have in the API's JSON, for PostgreSQL to write them under.
TRAIL_ROW_WIRE_NAMES = tuple(
    (name, field.alias or name) for name, field in AuditLogRead.model_fields.items()
)
_ITEMS, _NEXT_CURSOR = (
    AuditLogPage.model_fields[name].alias or name for name in ("items", "next_cursor")
)


def trail_page_json(items: Sequence[str], next_cursor: str | None) -> str:
    """An AuditLogPage as JSON, from its items' JSON objects (written by PostgreSQL under
    TRAIL_ROW_WIRE_NAMES)."""
    return f'{{"{_ITEMS}":[{",".join(items)}],"{_NEXT_CURSOR}":{json.dumps(next_cursor)}}}'
