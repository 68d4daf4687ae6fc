"""The search of all audit rows (the studio), newest first, in two steps.

A common term (a browser, a frequent word) matches a good share of the rows: the newest page of
matches lies among the newest rows, and reading those in `created_at` order finds it at once,
where the indexes would hand over every match in the trail to be sorted. A rare term matches few
rows anywhere: its indexes find them. So the newest rows are read in order first, a sample of
PROBE rows, then (when the sample says it would fill the page) up to WALK_BUDGET rows; only
when they hold too few matches are the older rows searched by the indexes: the start of an IP
by its prefix index, an agent's fragment among the trail's distinct agents and their rows by
equality, the words of the details by full text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from pe_portal.audit.models import (
    AuditLog,
    AuditUserAgent,
    Columns,
    like_pattern,
    row_search_condition,
)

# Rows read in order before the indexes take over. A term matching 1 row in 400 or more fills a
# page of 50 here; reading 20 000 rows costs a few tens of milliseconds, and a term rarer than
# that has few enough matches for its indexes.
WALK_BUDGET = 20_000
# The sample: a term without a match in it skips the walk (whose cost is mostly the rows that
# do not match: each is searched for the words of its details).
PROBE = 2_000
_c = AuditLog.__table__.c


@dataclass(frozen=True)
class Wanted:
    """What the rows must hold: the term, and exact values of other columns (the studio's
    action and resource filters)."""

    term: str
    equal: Mapping[str, str]

    def condition(
        self, columns: Columns = _c, agents: Sequence[str] | None = None
    ) -> ColumnElement[bool]:
        exact = (columns[name] == value for name, value in self.equal.items())
        return and_(row_search_condition(self.term, columns, agents), *exact)


@dataclass(frozen=True)
class Found:
    rows: list[AuditLog]
    more: bool  # matches follow this page


async def _in_newest_rows(
    session: AsyncSession, wanted: Wanted, agents: Sequence[str], rows: int, limit: int
) -> list[AuditLog]:
    """Matches among the newest `rows` rows, newest first (the created_at index, in order)."""
    newest = (
        select(AuditLog).order_by(_c.created_at.desc(), _c.id.desc()).limit(rows).subquery("newest")
    )
    row = aliased(AuditLog, newest)
    query = (
        select(row)
        .where(wanted.condition(newest.c, agents))
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def _walk_edge(session: AsyncSession, rows: int) -> tuple[datetime, str] | None:
    """The oldest of the newest `rows` rows; None when the trail has no more rows than that."""
    query = (
        select(_c.created_at, _c.id)
        .order_by(_c.created_at.desc(), _c.id.desc())
        .offset(rows - 1)
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def _agents_holding(session: AsyncSession, term: str) -> list[str]:
    """The distinct agents of the trail that hold the term (a small table, its trigram index)."""
    agents = AuditUserAgent.__table__.c
    query = select(agents.user_agent).where(agents.user_agent.ilike(like_pattern(term)))
    return list((await session.scalars(query)).all())


async def _older(
    session: AsyncSession,
    wanted: Wanted,
    agents: Sequence[str],
    edge: tuple[datetime, str],
    limit: int,
) -> list[AuditLog]:
    """Matches older than the walked rows, newest first, found by the search indexes.

    The matches are gathered first (a MATERIALIZED CTE), then sorted: offered the order and the
    limit, PostgreSQL gives an agent it holds no statistics for the average agent's share of the
    rows and walks the older months in order for them, the very scan the indexes avoid. Plans
    are made for the values (newest_matches: a generic plan cannot know how rare an agent is)."""
    hits = (
        select(AuditLog)
        .where(
            wanted.condition(agents=agents),
            tuple_(_c.created_at, _c.id) < tuple_(*edge),
            _c.created_at <= edge[0],  # prunes the newer months (a row comparison does not)
        )
        .cte("hits")
        .prefix_with("MATERIALIZED")
    )
    row = aliased(AuditLog, hits)
    query = select(row).order_by(hits.c.created_at.desc(), hits.c.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def newest_matches(
    session: AsyncSession, *, wanted: Wanted, offset: int, limit: int
) -> Found:
    """Rows `offset` to `offset + limit` of those `wanted`, newest first."""
    needed = offset + limit + 1  # one more tells whether more follow
    # Every statement below is planned for its values: how rare the agents are, the IP prefix.
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    # The agents holding the term, once: each row's agent is then compared, not searched.
    agents = await _agents_holding(session, wanted.term)
    walked = PROBE
    found = await _in_newest_rows(session, wanted, agents, PROBE, needed)
    if len(found) < needed and len(found) * WALK_BUDGET >= needed * PROBE:
        walked = WALK_BUDGET  # at the sample's rate, the budget fills the page
        found = await _in_newest_rows(session, wanted, agents, WALK_BUDGET, needed)
    if len(found) < needed:
        edge = await _walk_edge(session, walked)
        if edge is not None:
            found += await _older(session, wanted, agents, edge, needed - len(found))
    return Found(found[offset : offset + limit], len(found) > offset + limit)
