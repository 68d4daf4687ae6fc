"""The connection pool lends connections first come, first served, and loses none on the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from pe_portal.db.pool import FairAsyncPool


@pytest.fixture
async def one_connection(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine whose pool holds a single connection; waiting for it gives up after 0.5 s."""
    single = create_engine(
        settings.model_copy(update={"database_pool_timeout": 500}),
        settings.database_url or "",
        pool_size=1,
    )
    yield single
    await single.dispose()


def _checked_out(engine: AsyncEngine) -> int:
    pool = engine.sync_engine.pool
    assert isinstance(pool, FairAsyncPool)
    return pool.checkedout()


async def _borrow(engine: AsyncEngine, name: str, served: list[str]) -> None:
    connection = await engine.raw_connection()
    served.append(name)
    connection.close()


async def test_waiters_are_served_in_the_order_they_came(one_connection: AsyncEngine) -> None:
    served: list[str] = []
    held = await one_connection.raw_connection()
    waiters = []
    for name in ("first", "second", "third"):
        waiters.append(asyncio.create_task(_borrow(one_connection, name, served)))
        await asyncio.sleep(0.01)  # each is waiting before the next arrives

    held.close()
    # Asking again at once, as a busy request would: it must queue behind those waiting.
    await _borrow(one_connection, "the one who just gave it back", served)
    await asyncio.gather(*waiters)

    assert served == ["first", "second", "third", "the one who just gave it back"]


async def test_a_waiter_that_times_out_costs_no_connection(one_connection: AsyncEngine) -> None:
    held = await one_connection.raw_connection()
    with pytest.raises(sa_exc.TimeoutError):
        await one_connection.raw_connection()
    held.close()

    again = await asyncio.wait_for(one_connection.raw_connection(), timeout=0.2)
    again.close()
    assert _checked_out(one_connection) == 0


async def test_a_cancelled_waiter_costs_no_connection(one_connection: AsyncEngine) -> None:
    held = await one_connection.raw_connection()
    served: list[str] = []
    abandoned = asyncio.create_task(_borrow(one_connection, "abandoned", served))
    patient = asyncio.create_task(_borrow(one_connection, "patient", served))
    await asyncio.sleep(0.01)
    abandoned.cancel()
    held.close()

    await asyncio.wait_for(patient, timeout=0.2)
    assert served == ["patient"]
    assert _checked_out(one_connection) == 0
