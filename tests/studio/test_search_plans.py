"""The studio's search on realistic, analysed data: users by name or e-mail fragment (typos
forgiven), audit rows by the start of an IP, a fragment of the user agent or words of the
details, each served by an index; the two-step search finds what one query finds."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pe_portal.audit import service as audit
from pe_portal.audit.models import AuditLog, row_search_condition
from pe_portal.audit.repository import search
from pe_portal.users.models import User
from pe_portal.users.models import search_condition as user_search
from tests.conftest import ALL_TABLES, RETENTION_SWITCH
from tests.db.test_query_plans import explain

# 50 000 people with names built from syllables (a few hundred distinct surnames, as a client
# list has), 60 000 audit rows over a month with varied addresses, agents and details.
_FIRST = "ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Frances','John','Margaret','Ken']"
_HEAD = "ARRAY['Lov','Hop','Tur','Dijk','Knu','Ritch','Thomp','Lisk','Bab','Shan','Ham','Wirt']"
_TAIL = "ARRAY['elace','per','ing','stra','th','ie','son','ov','bage','non','ilton','kins']"
_SEED = (
    "INSERT INTO users (id, email, password, first_name, last_name) SELECT 'su' || g,"  # noqa: S608
    f" lower(({_FIRST})[g % 10 + 1] || '.' || ({_HEAD})[g / 10 % 12 + 1]"
    f" || ({_TAIL})[g / 120 % 12 + 1]) || g || '@example.com', 'x', ({_FIRST})[g % 10 + 1],"
    f" ({_HEAD})[g / 10 % 12 + 1] || ({_TAIL})[g / 120 % 12 + 1] || (g % 7)"
    " FROM generate_series(1, 50000) g",
    "INSERT INTO audit_logs (id, user_id, action, details, ip_address, user_agent, created_at)"
    " SELECT 'sr' || g, 'su' || (g % 50000 + 1),"
    " (ARRAY['LOGIN', 'TOKEN_REFRESH', 'LOGOUT'])[g % 3 + 1],"
    " jsonb_build_object('word', 'w' || (g % 5000)), '10.' || (g % 250) || '.' || (g % 199) || '.'"
    " || (g % 97), 'Mozilla/5.0 (device ' || (g % 3000) || ') Gecko/20100101 Firefox/' || (g % 120),"
    " timestamp '2026-11-01' + make_interval(secs => g * 30) FROM generate_series(1, 60000) g",
)


@pytest.fixture(scope="module")
async def realistic(owner_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Seeded and analysed once for the module (its tests only read, or roll back), emptied
    after it."""
    async with owner_engine.begin() as connection:
        await connection.execute(text("SELECT audit_ensure_partition(date '2026-11-01')"))
        for statement in _SEED:
            await connection.execute(text(statement))
    async with owner_engine.connect() as connection:
        await connection.execute(text("ANALYZE users"))
        await connection.execute(text("ANALYZE audit_logs"))
        await connection.commit()
        yield connection
    async with owner_engine.begin() as connection:
        await connection.execute(text(RETENTION_SWITCH.replace("SET", "SET LOCAL")))
        await connection.execute(text(f"TRUNCATE {ALL_TABLES} CASCADE"))


async def _plan(connection: AsyncConnection, statement: object) -> str:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    result = await connection.execute(text(f"EXPLAIN {compiled}"))
    return "\n".join(row[0] for row in result)


@pytest.mark.parametrize("term", ["Lovelace", "Lovelase", "margaret.hopper12"])
async def test_user_search_is_served_by_the_trigram_index(
    realistic: AsyncConnection, term: str
) -> None:
    plan = await _plan(realistic, select(User.id).where(user_search(term)).limit(50))
    assert "idx_users_search_trgm" in plan, plan
    assert "Seq Scan on users" not in plan, plan


def _assert_served_by_the_search_indexes(plan: str, *indexes: str) -> None:
    for index in ("idx_audit_logs_ip_prefix", "idx_audit_logs_details_fts", *indexes):
        assert index in plan, plan
    # The month with the rows is read by its indexes (empty partitions cost nothing either way).
    assert "Seq Scan on audit_logs_y2026m11" not in plan, plan


@pytest.mark.parametrize("term", ["10.42.17", "device 2999", "w4321"])
async def test_audit_search_is_served_by_its_indexes(realistic: AsyncConnection, term: str) -> None:
    agents = ["Mozilla/5.0 (device 2999) Gecko/20100101 Firefox/119"]
    statement = select(AuditLog.id).where(row_search_condition(term, agents=agents)).limit(50)
    plan = await _plan(realistic, statement)
    _assert_served_by_the_search_indexes(plan, "idx_audit_logs_agent", "idx_audit_logs_user")


@pytest.mark.parametrize("term", ["Firefox", "Gecko"])
async def test_a_common_term_walks_the_newest_rows_in_order(
    realistic: AsyncConnection, db_session: AsyncSession, term: str
) -> None:
    """Every row matches: the page is the newest rows, read by the created_at index in order
    and stopped there; no search index hands over all 60 000 matches to be sorted."""
    plan = await explain(
        db_session,
        lambda: audit.search_rows(db_session, term=term, offset=0, limit=25),
        analyze=True,
    )
    assert "Index Scan Backward using idx_audit_logs_created" in plan, plan
    assert "Bitmap" not in plan, plan
    # Stopped at the page, the row more that tells whether more follow, and the one that would
    # have been the sample's last.
    assert re.search(r"Subquery Scan on newest \(actual time=\S+ rows=27 ", plan), plan


@pytest.mark.parametrize("term", ["10.42.17", "device 2999", "w4321"])
async def test_a_rare_term_is_found_by_the_indexes_beyond_the_newest_rows(
    realistic: AsyncConnection, db_session: AsyncSession, term: str
) -> None:
    """Too few matches among the newest rows: the older rows are searched by the indexes (in
    the window the sample's rate sizes, then before it), an agent's fragment among the
    distinct agents (`device 2999` is one of 3 000 of them)."""
    plan = await explain(
        db_session,
        lambda: audit.search_rows(db_session, term=term, offset=0, limit=25),
        pick=lambda statement: "hits AS MATERIALIZED" in statement,
    )
    _assert_served_by_the_search_indexes(plan)
    assert ("idx_audit_logs_agent" in plan) == (term == "device 2999"), plan


async def test_a_fragment_no_agent_holds_reads_no_row_for_it(
    realistic: AsyncConnection, db_session: AsyncSession
) -> None:
    """Every agent holds the trigrams of `Firefox/1200` (`Firefox/1…`, `…200…`) and none the
    fragment: the distinct agents say so, and no row is rechecked for it."""
    plan = await explain(
        db_session,
        lambda: audit.search_rows(db_session, term="Firefox/1200", offset=0, limit=25),
        analyze=True,
    )
    assert "idx_audit_logs_agent" not in plan, plan
    assert "Rows Removed by Index Recheck" not in plan, plan


@pytest.mark.parametrize("term", ["Firefox/7", "10.3.", "w42", "device 29", "Firefox/1200"])
@pytest.mark.parametrize("equal", [{}, {"action": "TOKEN_REFRESH"}])
async def test_the_two_steps_find_what_one_query_finds(
    realistic: AsyncConnection,
    db_session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    term: str,
    equal: dict[str, str],
) -> None:
    """Page after page, with the edges of the sample and of the window inside the pages (terms
    found by the sample, in the window its rate sizes, before the window, by the indexes alone):
    the same rows, in the same order, as the plain query over every row."""
    monkeypatch.setattr(search, "PROBE", 100)
    await _assert_pages_are_the_plain_querys(db_session, term, equal)


async def test_rows_of_one_instant_are_paged_across_the_sample_and_the_window(
    realistic: AsyncConnection, db_session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest 300 rows written at one instant, 1 in 3 holding the word: the sample's last
    row, the window (no time at all: the instant itself) and the rows before it split that
    instant by id, and the pages are still the plain query's."""
    monkeypatch.setattr(search, "PROBE", 100)
    await db_session.execute(
        text(
            "INSERT INTO audit_logs (id, user_id, action, details, created_at)"
            " SELECT 'tie' || lpad(g::text, 3, '0'), 'su1', 'LOGIN', jsonb_build_object('word',"
            " CASE WHEN g % 3 = 0 THEN 'tiedword' ELSE 'other' END), timestamp '2026-11-25 12:00'"
            " FROM generate_series(1, 300) g"
        )
    )
    await _assert_pages_are_the_plain_querys(db_session, "tiedword", {})


async def _assert_pages_are_the_plain_querys(
    db_session: AsyncSession, term: str, equal: dict[str, str]
) -> None:
    columns = AuditLog.__table__.c
    everything = select(AuditLog.id).where(
        row_search_condition(term), *(columns[name] == value for name, value in equal.items())
    )
    newest = everything.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(160)
    expected = list((await db_session.scalars(newest)).all())
    pages = []
    for offset in range(0, 150, 50):
        found = await audit.search_rows(db_session, term=term, offset=offset, limit=50, equal=equal)
        assert found.more == (len(expected) > offset + 50), (term, offset)
        pages += [row.id for row in found.rows]
    assert pages == expected[:150], term
