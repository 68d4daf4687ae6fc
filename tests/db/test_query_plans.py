"""The spec's three query patterns are repository methods, and each is served by an index.

Each test captures the SQL the repository method really sends, then asks PostgreSQL to EXPLAIN
exactly that statement with the same parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import repository as audit_repository
from pe_portal.sessions import repository as sessions_repository
from pe_portal.users import repository as users_repository


async def explain(session: AsyncSession, call: Callable[[], Awaitable[Any]]) -> str:
    captured: list[tuple[str, Any]] = []
    connection = await session.connection()

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        captured.append((statement, params))

    event.listen(connection.sync_connection, "before_cursor_execute", capture)
    try:
        await call()
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", capture)
    statement, params = captured[-1]
    # Tiny test tables make a sequential scan cheapest; turning it off asks "can an index serve
    # this query?", which is what these tests are about.
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    result = await connection.exec_driver_sql("EXPLAIN " + statement, params)
    return "\n".join(row[0] for row in result)


async def test_authentication_lookup_uses_the_email_index(db_session: AsyncSession) -> None:
    plan = await explain(
        db_session, lambda: users_repository.get_active_by_email(db_session, "a@example.com")
    )
    assert "idx_users_email" in plan


async def test_session_validation_uses_the_token_index(db_session: AsyncSession) -> None:
    plan = await explain(
        db_session,
        lambda: sessions_repository.find_valid_by_digest(
            db_session, digest="d", now=datetime.now(UTC)
        ),
    )
    assert "idx_sessions_refresh_token" in plan


async def test_audit_trail_uses_the_composite_index(db_session: AsyncSession) -> None:
    plan = await explain(
        db_session,
        lambda: audit_repository.trail_for_user(
            db_session, user_id="u1", since=datetime(2026, 1, 1, tzinfo=UTC)
        ),
    )
    assert "idx_audit_logs_composite" in plan
