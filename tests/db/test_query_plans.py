"""The spec's three query patterns are repository methods, and each is served by an index.

Each test captures the SQL the repository method really sends, then asks PostgreSQL to EXPLAIN
exactly that statement with the same parameters."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.audit import repository as audit_repository
from pe_portal.auth import repository as auth_repository
from pe_portal.sessions import repository as sessions_repository
from pe_portal.users import repository as users_repository


@pytest.fixture
async def analysed_session(owner_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A rolled-back session on tables holding a realistic spread of rows (300 users, a year of
    audit rows each) with fresh statistics, so the planner chooses as it would in production
    rather than for an empty table whose statistics depend on earlier tests."""
    async with owner_engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(
            text(
                "INSERT INTO users (id, email, password) SELECT 'u' || g, 'u' || g || '@x.io', 'h' "
                "FROM generate_series(1, 300) g"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO audit_logs (user_id, action, created_at) "
                "SELECT 'u' || (g % 300 + 1), (ARRAY['LOGIN','LOGOUT','TOKEN_REFRESH'])[g % 3 + 1], "
                "timestamp '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 30000) g"
            )
        )
        await connection.execute(text("ANALYZE users, sessions, audit_logs"))
        session = AsyncSession(bind=connection, expire_on_commit=False)
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


async def explain(
    session: AsyncSession,
    call: Callable[[], Awaitable[Any]],
    *,
    analyze: bool = False,
    pick: Callable[[str], bool] | None = None,
) -> str:
    """The plan of the last statement `call` sends or, given `pick`, the plans of every
    statement it picks, one after the other."""
    captured: list[tuple[str, Any]] = []
    connection = await session.connection()

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        captured.append((statement, params))

    event.listen(connection.sync_connection, "before_cursor_execute", capture)
    try:
        await call()
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", capture)
    chosen = captured[-1:] if pick is None else [each for each in captured if pick(each[0])]
    assert chosen, captured
    # Small test tables can still make a sequential scan cheapest; turning it off asks "which
    # index serves this query?", which is what these tests are about.
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    command = "EXPLAIN (ANALYZE, COSTS OFF) " if analyze else "EXPLAIN "
    plans = []
    for statement, params in chosen:
        result = await connection.exec_driver_sql(command + statement, params)
        plans.append("\n".join(row[0] for row in result))
    return "\n".join(plans)


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


async def test_audit_trail_finds_the_users_rows_by_index(analysed_session: AsyncSession) -> None:
    plan = await explain(
        analysed_session,
        lambda: audit_repository.trail_for_user(
            analysed_session, user_id="u1", since=datetime(2026, 1, 1, tzinfo=UTC)
        ),
    )
    # Either index that leads with user_id serves it (the planner picks by statistics); what must
    # never happen is walking every user's rows by time and filtering on user_id.
    # The rows are January's; partitions other tests left empty may be probed by any index.
    scans = re.findall(r"using (\w+) on (\w+)", plan)
    where_rows_are = [
        index for index, part in scans if part in ("audit_logs_y2026m01", "audit_logs_default")
    ]
    assert where_rows_are, plan
    assert all(
        i.startswith(("idx_audit_logs_composite", "idx_audit_logs_user")) for i in where_rows_are
    ), plan
    assert "Bitmap Index Scan on idx_audit_logs_created" not in plan, plan


async def test_audit_trail_filtered_by_action_uses_the_composite_index(
    analysed_session: AsyncSession,
) -> None:
    plan = await explain(
        analysed_session,
        lambda: audit_repository.trail_for_user(
            analysed_session,
            user_id="u1",
            since=datetime(2026, 1, 1, tzinfo=UTC),
            action="LOGIN",
        ),
    )
    assert "idx_audit_logs_composite" in plan, plan


async def test_the_per_request_check_probes_primary_keys_even_when_no_session_looks_live(
    analysed_session: AsyncSession,
) -> None:
    """Every session expired, statistics fresh: the planner believes no session is live, which
    is when it would rather walk the live-sessions index than probe each session by its key."""
    await analysed_session.execute(
        text(
            "INSERT INTO sessions (id, user_id, refresh_token, expires_at) "
            "SELECT 's' || g, 'u' || (g % 300 + 1), 'r' || g, timestamp '2026-01-01' "
            "FROM generate_series(1, 3000) g"
        )
    )
    await analysed_session.execute(text("ANALYZE sessions"))
    await analysed_session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    pairs = [(f"s{g}", f"u{g % 300 + 1}") for g in range(1, 21)]
    raw = await (await analysed_session.connection()).get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    rows = await driver.fetch(
        "EXPLAIN " + auth_repository.ACTIVE_ACCOUNTS,
        [session_id for session_id, _ in pairs],
        [user_id for _, user_id in pairs],
        datetime(2026, 6, 1),  # noqa: DTZ001 - the column is UTC without a zone
    )
    plan = "\n".join(row[0] for row in rows)
    assert "sessions_pkey" in plan, plan
    assert "users_pkey" in plan, plan
    assert "idx_sessions_active" not in plan, plan


async def test_the_lock_out_count_uses_the_failed_sign_in_index(
    analysed_session: AsyncSession,
) -> None:
    """Wrong passwords and wrong second-factor codes, counted through one partial index."""
    plan = await explain(
        analysed_session,
        lambda: auth_repository.nth_recent_failure(
            analysed_session,
            email_digest="d" * 64,
            since=datetime(2026, 1, 1, tzinfo=UTC),
            n=10,
            actions=["LOGIN_FAILED", "MFA_FAILED"],
            reasons=["invalid_credentials"],
        ),
    )
    assert "idx_audit_logs_sign_in_failed" in plan, plan
