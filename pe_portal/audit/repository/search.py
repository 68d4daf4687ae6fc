"""The search of all audit rows (the studio), newest first: a sample in order, then indexes.

A common term (a browser, a frequent word) matches a good share of the rows: the newest page of
matches lies among the newest rows, and reading those in `created_at` order finds it at once,
where the indexes would hand over every match in the trail to be sorted. A rarer term is found
by its indexes: the start of an IP by its prefix index, an agent's fragment among the trail's
distinct agents and their rows by equality, the words of the details by full text. So the
newest PROBE rows are read in order first; when they hold too few matches, their rate says how
far back the rest of the page should lie, and the indexes search that window of time (a month
or two: its partitions alone are planned and read), then, if the page is still short, every
older row. Reading on in order instead costs each row that does not match (its details' text
above all): a term in 1 of 256 rows took 20-40 ms to walk to a page of 50, its window under a
millisecond of PostgreSQL's time (docs/benchmarks.md, run R)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, text, tuple_
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

# The sample: the newest rows, read in order. A term in 1 row of 40 or more fills a page of 50
# there; for a rarer one it tells the rate at which the older rows hold matches.
PROBE = 2_000
# The window after the sample is sized to hold this many times the matches still wanted, at
# the sample's rate: a rate read from a few matches may be off by that much.
WINDOW_MARGIN = 2
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


@dataclass(frozen=True)
class _Sample:
    matches: list[AuditLog]  # newest first, at most the number asked for
    # The oldest row read; None when the trail has no more rows than the sample, or the
    # matches filled the page before its end.
    edge: tuple[datetime, str] | None
    # How far apart in time the rows lie, from the first match to the edge; None without a
    # match before the edge.
    time_per_row: timedelta | None


async def _sample(
    session: AsyncSession, wanted: Wanted, agents: Sequence[str], limit: int
) -> _Sample:
    """Matches among the newest PROBE rows (the created_at index, in order) and, in the same
    statement, the last of those rows: numbered as they are read, it comes back too."""
    order = (_c.created_at.desc(), _c.id.desc())
    position = func.row_number().over(order_by=order).label("position")
    newest = select(AuditLog, position).order_by(*order).limit(PROBE).subquery("newest")
    row = aliased(AuditLog, newest)
    matched = wanted.condition(newest.c, agents)
    last = newest.c.position == PROBE
    # Every row but the last is here because it matched: the condition is evaluated again only
    # for the last (a row's test can cost more than reading it).
    is_match = or_(newest.c.position != PROBE, matched)
    query = (
        select(row, newest.c.position, is_match.label("matched"))
        .where(or_(matched, last))
        .order_by(newest.c.created_at.desc(), newest.c.id.desc())
        .limit(limit + 1)  # the matches wanted and the last row, when it does not match
    )
    matches: list[AuditLog] = []
    first: tuple[datetime, int] | None = None
    edge = None
    for found, place, is_match in await session.execute(query):
        if place == PROBE:
            edge = (found.created_at, found.id)
        elif first is None:
            first = (found.created_at, place)
        if is_match:
            matches.append(found)
    spread = None
    if edge is not None and first is not None:
        spread = (first[0] - edge[0]) / (PROBE - first[1])
    return _Sample(matches[:limit], edge, spread)


def _window_start(sample: _Sample, wanted_more: int) -> datetime | None:
    """Where the rows older than the sample should hold WINDOW_MARGIN times `wanted_more`
    matches, at the sample's rate of matches and of rows in time; None when the sample found
    none to go by (or the window would reach before any time)."""
    if sample.edge is None or sample.time_per_row is None:
        return None
    rows = WINDOW_MARGIN * wanted_more * PROBE / len(sample.matches)
    try:
        return sample.edge[0] - sample.time_per_row * rows
    except OverflowError:
        return None


async def _agents_holding(session: AsyncSession, term: str) -> list[str]:
    """The distinct agents of the trail that hold the term (a small table, its trigram index)."""
    agents = AuditUserAgent.__table__.c
    query = select(agents.user_agent).where(agents.user_agent.ilike(like_pattern(term)))
    return list((await session.scalars(query)).all())


async def _older(
    session: AsyncSession,
    wanted: Wanted,
    agents: Sequence[str],
    *,
    before: tuple[datetime, str],
    since: datetime | None,
    limit: int,
) -> list[AuditLog]:
    """Matches before the row `before` (and at or after `since`), newest first, found by the
    search indexes.

    The matches are gathered first (a MATERIALIZED CTE), then sorted: offered the order and the
    limit, PostgreSQL gives an agent it holds no statistics for the average agent's share of the
    rows and walks the older months in order for them, the very scan the indexes avoid. Plans
    are made for the values (newest_matches: a generic plan cannot know how rare an agent is)."""
    bounds = [
        tuple_(_c.created_at, _c.id) < tuple_(*before),
        _c.created_at <= before[0],  # prunes the newer months (a row comparison does not)
    ]
    if since is not None:
        bounds.append(_c.created_at >= since)  # prunes the older months
    hits = (
        select(AuditLog)
        .where(wanted.condition(agents=agents), *bounds)
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
    sample = await _sample(session, wanted, agents, needed)
    found = sample.matches
    if len(found) < needed and sample.edge is not None:
        before, since = sample.edge, _window_start(sample, needed - len(found))
        found += await _older(
            session, wanted, agents, before=before, since=since, limit=needed - len(found)
        )
        if len(found) < needed and since is not None:
            # Every row of an instant sorts after (created_at, ""): the rows before the window.
            before = (since, "")
            found += await _older(
                session, wanted, agents, before=before, since=None, limit=needed - len(found)
            )
    return Found(found[offset : offset + limit], len(found) > offset + limit)
