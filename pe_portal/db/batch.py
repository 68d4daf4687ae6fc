"""Concurrent lookups of one kind, answered together: one statement per pooled connection.

Every authenticated request checks its session and account. Under load most of those checks wait
for a pooled connection anyway (64 concurrent readers, a pool of 10); here the batch that waits
gathers every lookup arriving meanwhile, and one connection and one round trip answer them all.
Lending a connection and running a statement cost more CPU than the lookup itself
(docs/benchmarks.md). A lookup on its own is a batch of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from pe_portal.db.engine import DriverConnection, DriverConnections

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[DriverConnection, Sequence[K]], Awaitable[Mapping[K, V]]]


class BatchedLookup(Generic[K, V]):
    """`get(key)`: the value `fetch` finds for `key`, or None; concurrent gets share one fetch.

    A batch stays open until it holds a connection, then runs `fetch` once for all of its keys
    (each once, however many asked). A failure reaches every lookup of the batch; a lookup
    cancelled while it waits leaves the others unaffected."""

    def __init__(self, connections: DriverConnections, fetch: Fetch[K, V]) -> None:
        self._connections = connections
        self._fetch = fetch
        self._open: dict[K, list[asyncio.Future[V | None]]] | None = None
        self._running: set[asyncio.Task[None]] = set()  # referenced until done (asyncio docs)

    async def get(self, key: K) -> V | None:
        batch = self._open
        if batch is None:
            batch = self._open = {}
            task = asyncio.create_task(self._answer(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        answer: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        batch.setdefault(key, []).append(answer)
        return await answer

    async def _answer(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            async with self._connections() as connection:
                self._close(batch)
                found = await self._fetch(connection, list(batch))
        except BaseException as error:
            self._close(batch)
            _fail(batch, error)
            if not isinstance(error, Exception):
                raise
            return
        for key, answers in batch.items():
            value = found.get(key)
            for answer in answers:
                if not answer.done():
                    answer.set_result(value)

    def _close(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        """Lookups from now on start the next batch."""
        if self._open is batch:
            self._open = None


def _fail(batch: Mapping[K, list[asyncio.Future[V | None]]], error: BaseException) -> None:
    for answers in batch.values():
        for answer in answers:
            if answer.done():
                continue
            if isinstance(error, asyncio.CancelledError):
                answer.cancel()
            else:
                answer.set_exception(error)
