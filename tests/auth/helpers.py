"""Reading what the API wrote: audit rows and stored values, straight from the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
SESSIONS = "/api/v1/auth/sessions"
TOKEN = "/api/v1/auth/token"

Db = AsyncSession | AsyncConnection


async def audit_rows(db: Db, action: str, user_id: str | None = None) -> list[dict[str, Any]]:
    """Audit rows with this action (of this user, when given), oldest first."""
    query = text(
        "SELECT user_id, action, resource, details, ip_address, user_agent FROM audit_logs"
        " WHERE action = :action AND (CAST(:user_id AS text) IS NULL OR user_id = :user_id)"
        " ORDER BY created_at, id"
    )
    result = await db.execute(query, {"action": action, "user_id": user_id})
    return [dict(row._mapping) for row in result]


async def scalar(db: Db, sql: str, **params: Any) -> Any:
    return (await db.execute(text(sql), params)).scalar_one()


async def execute(db: Db, sql: str, **params: Any) -> None:
    """Write as another system would; committed (on the test session: a savepoint released),
    so the app's own rollbacks cannot undo it."""
    await db.execute(text(sql), params)
    await db.commit()
