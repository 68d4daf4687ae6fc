"""Concurrent lookups share one statement, each gets its own answer, and a failure or a
cancellation stays within what it concerns. On a real pool of one connection, so that lookups
arriving while it is busy must wait, and so gather."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from asyncpg.exceptions import DivisionByZeroError  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.batch import BatchedLookup
from pe_portal.db.engine import create_engine, pooled_driver_connections

# Each key's answer is the key in capitals; "missing…" keys have none; "boom" fails the statement.
_LOOKUP = """
SELECT k, upper(k) AS answer FROM unnest($1::text[]) AS k
WHERE k NOT LIKE 'missing%' AND 1 / (CASE WHEN k = 'boom' THEN 0 ELSE 1 END) = 1
"""


class Capitals:
    """A fetch that records the keys of each statement it runs (and can be held mid-statement)."""

    def __init__(self) -> None:
        self.statements: list[list[str]] = []
        self.started = asyncio.Event()
        self.proceed = asyncio.Event()
        self.proceed.set()

    async def __call__(self, connection: Any, keys: Sequence[str]) -> dict[str, str]:
        self.statements.append(list(keys))
        self.started.set()
        await self.proceed.wait()
        rows = await connection.fetch(_LOOKUP, list(keys))
        return {row["k"]: row["answer"] for row in rows}


@pytest.fixture
async def one_connection(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    single = create_engine(settings, settings.database_url or "", pool_size=1)
    yield single
    await single.dispose()


@pytest.fixture
def capitals() -> Capitals:
    return Capitals()


@pytest.fixture
def lookup(one_connection: AsyncEngine, capitals: Capitals) -> BatchedLookup[str, str]:
    return BatchedLookup(pooled_driver_connections(one_connection), capitals)


async def _while_the_pool_is_busy(engine: AsyncEngine, *lookups: Any) -> list[Any]:
    """Start `lookups` while the only connection is lent out, then give it back."""
    held = await engine.raw_connection()
    tasks = [asyncio.ensure_future(lookup) for lookup in lookups]
    await asyncio.sleep(0.05)  # every lookup is waiting
    held.close()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_lookup_alone_is_answered_at_once(
    lookup: BatchedLookup[str, str], capitals: Capitals
) -> None:
    assert await lookup.get("ada") == "ADA"
    assert await lookup.get("missing") is None
    assert capitals.statements == [["ada"], ["missing"]]


async def test_lookups_waiting_together_share_one_statement_and_get_their_own_answers(
    lookup: BatchedLookup[str, str], capitals: Capitals, one_connection: AsyncEngine
) -> None:
    keys = ["ada", "grace", "ada", "missing-1", "linus", "grace"]
    answers = await _while_the_pool_is_busy(one_connection, *(lookup.get(k) for k in keys))
    assert answers == ["ADA", "GRACE", "ADA", None, "LINUS", "GRACE"]
    assert capitals.statements == [["ada", "grace", "missing-1", "linus"]]  # each key once


async def test_lookups_arriving_during_a_statement_make_the_next_batch(
    lookup: BatchedLookup[str, str], capitals: Capitals
) -> None:
    capitals.proceed.clear()
    first = asyncio.ensure_future(lookup.get("ada"))
    await capitals.started.wait()  # the first batch holds the connection and has its keys
    later = [asyncio.ensure_future(lookup.get(k)) for k in ("grace", "linus")]
    await asyncio.sleep(0.01)
    capitals.proceed.set()
    assert await asyncio.gather(first, *later) == ["ADA", "GRACE", "LINUS"]
    assert capitals.statements == [["ada"], ["grace", "linus"]]


async def test_a_failed_statement_fails_every_lookup_of_its_batch_and_no_other(
    lookup: BatchedLookup[str, str], one_connection: AsyncEngine
) -> None:
    answers = await _while_the_pool_is_busy(
        one_connection, lookup.get("ada"), lookup.get("boom"), lookup.get("grace")
    )
    assert all(isinstance(answer, DivisionByZeroError) for answer in answers)
    assert await lookup.get("ada") == "ADA"  # the next batch, on a fresh connection


async def test_a_cancelled_lookup_leaves_the_rest_of_its_batch_answered(
    lookup: BatchedLookup[str, str], capitals: Capitals, one_connection: AsyncEngine
) -> None:
    held = await one_connection.raw_connection()
    leaving = asyncio.ensure_future(lookup.get("grace"))
    staying = asyncio.ensure_future(lookup.get("ada"))
    await asyncio.sleep(0.05)
    leaving.cancel()
    held.close()
    assert await asyncio.wait_for(staying, timeout=5) == "ADA"
    assert leaving.cancelled()
    assert capitals.statements == [["grace", "ada"]]
