"""Liveness and readiness: is the process up; is the database reachable and migrated."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.db import migrate


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str
    revision: str | None
    head: str | None


async def readiness(engine: AsyncEngine) -> Readiness:
    """Ready when the database answers and its schema is at the migrations' head."""
    head = migrate.head_revision()
    try:
        revision = await migrate.current_revision(engine)
    except Exception:
        return Readiness(ready=False, database="unreachable", revision=None, head=head)
    return Readiness(ready=revision == head, database="ok", revision=revision, head=head)
