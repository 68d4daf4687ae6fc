"""API shapes of the user's own audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pe_portal.users.schemas import CamelModel


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
