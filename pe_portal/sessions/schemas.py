"""API shapes of the sessions list."""

from __future__ import annotations

from datetime import datetime

from pe_portal.schemas import CamelModel


class SessionRead(CamelModel):
    id: str
    user_agent: str | None
    ip_address: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool
