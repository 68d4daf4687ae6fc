"""The own-trail queries are index scans: a page of the whole trail is a range of
idx_audit_logs_user_created (no sort), a page filtered by action is served by
idx_audit_logs_composite.

On the tiny tables of a test run, any index looks as good as another and the planner's pick
depends on which tests ran before; so these plans are asked for over realistic statistics: a
trail of 20 000 rows across 200 users, interleaved in time order as a live table holds them,
analysed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.audit import service
from pe_portal.audit.models import AuditAction
from pe_portal.audit.repository import lifecycle, span
from tests.db.test_query_plans import explain

CURSOR = "1767225600000.ck123"  # 2026-01-01T00:00:00Z, row ck123
SECOND_PAGE = "1780272000000.ck123"  # 2026-06-01T00:00:00Z, row ck123
USER = "plan-user-7"

_SEED = (
    "INSERT INTO users (id, email, password)"
    " SELECT 'plan-user-' || g, 'plan' || g || '@example.com', 'x' FROM generate_series(1, 200) g",
    "INSERT INTO audit_logs (id, user_id, action, resource, created_at)"
    " SELECT 'plan-row-' || g, 'plan-user-' || (g % 200 + 1),"
    " (ARRAY['LOGIN', 'TOKEN_REFRESH', 'PROFILE_UPDATED', 'LOGOUT'])[g % 4 + 1], 'AUTH',"
    " timestamp '2026-07-01' - make_interval(mins => 26 * g)"  # about a year back from July
    " FROM generate_series(1, 20000) g",
    # A live trail has a partition for each of its months, up to three ahead of this one.
    "SELECT audit_ensure_partition(m::date) FROM generate_series("
    " date '2025-06-01', now() + interval '3 months', interval '1 month') m",
    "ANALYZE users",
    "ANALYZE audit_logs",
)


@pytest.fixture
async def realistic_trail(owner_engine: AsyncEngine, committed: None) -> None:
    """Committed and analysed; `committed` empties the tables afterwards."""
    async with owner_engine.begin() as connection:
        for statement in _SEED[:3]:
            await connection.execute(text(statement))
    async with owner_engine.connect() as connection:  # ANALYZE sees committed rows only
        for statement in _SEED[3:]:
            await connection.execute(text(statement))
        await connection.commit()
    span.forget()  # the partitions were made by SQL, behind the process's back


@pytest.mark.usefixtures("realistic_trail")
@pytest.mark.parametrize(
    "filters",
    [
        {},  # since defaults to the beginning, and the index still serves it
        {"cursor": CURSOR},
        {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 2, 1, tzinfo=UTC)},
        {"since": datetime(2026, 1, 1, tzinfo=UTC), "cursor": CURSOR},
    ],
)
@pytest.mark.parametrize("action", [AuditAction.LOGIN, AuditAction.PROFILE_UPDATED])
async def test_a_filtered_trail_uses_the_composite_index(
    db_session: AsyncSession, action: AuditAction, filters: dict[str, object]
) -> None:
    plan = await explain(
        db_session,
        lambda: service.trail(db_session, user_id=USER, action=action, **filters),  # type: ignore[arg-type]
    )
    if "cursor" in filters and "since" in filters:
        # since == the cursor's time: the partition's slice is empty on either index, and the
        # planner may walk the user's time index there instead; the bounds are what matter.
        assert "idx_audit_logs_composite" in plan or "idx_audit_logs_user_created" in plan, plan
    else:
        assert "idx_audit_logs_composite" in plan, plan
    assert "created_at" in _index_conditions(plan), plan  # the time bound is in the index scan


@pytest.mark.usefixtures("realistic_trail")
@pytest.mark.parametrize(
    "filters",
    [
        {},  # the first page, as the API serves it by default
        {"cursor": SECOND_PAGE},  # a later page with more than a page of rows behind it
    ],
)
async def test_a_page_of_the_whole_trail_is_an_index_range_without_a_sort(
    db_session: AsyncSession, filters: dict[str, object]
) -> None:
    """Read in the index's order, a page costs its own rows however long the trail is."""
    plan = await explain(
        db_session,
        lambda: service.trail(db_session, user_id=USER, **filters),  # type: ignore[arg-type]
    )
    assert "Index Scan using idx_audit_logs_user_created" in plan, plan
    # The months are read in the index's order; the only Sort is over the DEFAULT partition's
    # branch, which holds no rows (planned away, or its empty partition).
    sorted_inputs = re.findall(r"->  Sort .*\n.*\n\s*->  (.*)", plan)
    assert all("One-Time Filter" in s or "default" in s for s in sorted_inputs), plan
    conditions = _index_conditions(plan)
    assert "user_id = 'plan-user-7'" in conditions, plan
    if "cursor" in filters:  # the keyset bound narrows the range rather than filtering rows
        assert "ROW(created_at, id) < ROW(" in conditions, plan


@pytest.mark.usefixtures("realistic_trail")
@pytest.mark.parametrize(
    ("filters", "bound"),
    [
        ({"cursor": CURSOR}, "ROW(created_at, id) < ROW("),
        (
            {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 2, 1, tzinfo=UTC)},
            "created_at < '2026-02-01",
        ),
    ],
)
async def test_the_whole_trail_bounds_its_pages_in_the_index(
    db_session: AsyncSession, filters: dict[str, object], bound: str
) -> None:
    """When the bound leaves less than a page, reading it all and sorting is as good a plan;
    either way only the user's rows inside the bound are read."""
    plan = await explain(
        db_session,
        lambda: service.trail(db_session, user_id=USER, **filters),  # type: ignore[arg-type]
    )
    conditions = _index_conditions(plan)
    assert "user_id = 'plan-user-7'" in conditions, plan
    if "until" in filters:
        # A month's bounds are a partition's: pruning keeps the bound, any user index serves.
        assert set(re.findall(r" on (audit_logs_\w+)", plan)) == {"audit_logs_y2026m01"}, plan
    else:
        assert "idx_audit_logs_user_created" in plan, plan
        assert bound in conditions, plan


def _index_conditions(plan: str) -> str:
    return "\n".join(line for line in plan.splitlines() if "Index Cond" in line)


@pytest.mark.usefixtures("realistic_trail")
async def test_the_first_page_reads_only_the_newest_months_it_needs(
    db_session: AsyncSession,
) -> None:
    """The DEFAULT partition is pruned, so the months are an ordered Append that stops at the
    page: of thirteen months of history (and the months ahead), only the newest few are read."""
    plan = await explain(db_session, lambda: service.trail(db_session, user_id=USER), analyze=True)
    assert "Merge Append" in plan, plan  # of the two branches: inside the span, and outside
    assert re.search(r"->  Append .*\n\s*->  Index Scan using idx_audit_logs_user_created", plan)
    never = set(re.findall(r" on (audit_logs_\w+) \w+ .*never executed", plan))
    # About 8 rows of the user a month: the page is the newest months' rows, the oldest months
    # are never opened.
    assert {"audit_logs_y2025m06", "audit_logs_y2025m07", "audit_logs_y2025m08"} <= never, plan
    assert "audit_logs_y2026m07" not in never, plan


@pytest.mark.usefixtures("realistic_trail")
async def test_the_seal_reads_each_queued_row_by_its_primary_key(db_session: AsyncSession) -> None:
    """However large the trail, a seal batch probes one partition's primary key per queued row:
    a join the planner may turn into a hash of the whole trail (10 M rows: 3 s a batch) is out."""
    await db_session.execute(text("ANALYZE audit_unsealed"))
    plan = "\n".join(
        row[0] for row in await db_session.execute(text("EXPLAIN " + lifecycle._unsealed_sql(5000)))
    )
    assert plan.startswith("Nested Loop Left Join"), plan
    assert "Hash" not in plan, plan
    assert "Index Only Scan using audit_unsealed_pkey" in plan, plan  # the head, in order
    # Below the loop, each partition's index is searched for the one queued row.
    assert re.search(r"Index Cond: \(.*audit_unsealed\.(row_id|created_at)", plan), plan
