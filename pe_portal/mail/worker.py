"""The delivery worker every server process runs: it wakes on the outbox's notification (sent
by the database when an inserting transaction commits, so within milliseconds of the request),
on the next retry falling due, or at the latest every MAIL_POLL_INTERVAL seconds (the safety
net for a notification missed while its connection was down, or a pooler that drops LISTEN).

It has its own small engine: one connection listens, one claims and sends, and neither is
taken from the pool the requests use, so a slow SMTP server never delays a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_engine, create_sessionmaker
from pe_portal.mail import repository
from pe_portal.mail.outbox import Outbox

log = logging.getLogger("pe_portal.mail")

CONNECTIONS = 2  # each process's worker: one listens, one claims and sends
_PRUNE_EVERY = 300.0  # seconds between retention passes: a sent row costs nothing meanwhile
_PRUNE_BATCH = 1000  # rows a retention statement deletes: short locks, short transactions
_TRANSIENT = (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError)


class Worker:
    """Claims and sends until `stop()`; a database outage is logged and waited out."""

    def __init__(self, outbox: Outbox, *, database_url: str) -> None:
        self.outbox = outbox
        self.settings: Settings = outbox.settings
        self.engine: AsyncEngine = create_engine(self.settings, database_url, pool_size=CONNECTIONS)
        self.sessionmaker = create_sessionmaker(self.engine)
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_prune = -_PRUNE_EVERY
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._deliver_forever(), name="pe-portal mail delivery"),
            loop.create_task(self._listen_forever(), name="pe-portal mail listener"),
        ]

    async def stop(self, *, grace: float) -> None:
        """Stop claiming; give the batch in flight up to `grace` seconds to finish. Cut short,
        its rows roll back to pending: another worker (or the next start) sends them."""
        self._stopping = True
        self._wake.set()
        delivery, listener = self._tasks
        listener.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(delivery), grace)
        except TimeoutError:
            log.warning("mail delivery stopped after %.3g s with a batch in flight", grace)
            delivery.cancel()
        await asyncio.gather(delivery, listener, return_exceptions=True)
        await self.engine.dispose()

    async def _deliver_forever(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self._deliver_what_is_due()
            except _TRANSIENT as error:
                log.warning("mail delivery: database unavailable (%s); trying again", error)
                wait = self.settings.mail_poll_interval
            except Exception:  # a bug must not end delivery for the life of the process
                log.exception("mail delivery failed unexpectedly; trying again")
                wait = self.settings.mail_poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _deliver_what_is_due(self) -> float:
        """Send batches while any is due; then prune if it is time; seconds until next due."""
        while not self._stopping and await self.outbox.deliver_due(self.sessionmaker):
            pass
        if time.monotonic() - self._last_prune >= _PRUNE_EVERY:
            await self._prune()
        async with self.sessionmaker() as session:
            due_in = await repository.seconds_until_due(session)
            await session.commit()
        poll = self.settings.mail_poll_interval
        return poll if due_in is None else min(max(due_in, 0.0), poll)

    async def _prune(self) -> None:
        removed = 0
        while True:
            async with self.sessionmaker() as session:
                batch = await repository.delete_finished(
                    session, older_than=self.settings.mail_retention, limit=_PRUNE_BATCH
                )
                await session.commit()
            removed += batch
            if batch < _PRUNE_BATCH:
                break
        self._last_prune = time.monotonic()
        if removed:
            log.info("mail outbox: %d finished message(s) past MAIL_RETENTION removed", removed)

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with self.engine.connect() as connection:
                    await self._listen(connection)
            except _TRANSIENT as error:
                log.warning("mail listener: %s; polling until it reconnects", error)
            await asyncio.sleep(self.settings.mail_poll_interval)

    async def _listen(self, connection: AsyncConnection) -> None:
        """Hold `connection` listening until the server closes it."""
        driver: Any = (await connection.get_raw_connection()).driver_connection
        closed = asyncio.Event()
        await driver.add_listener(repository.CHANNEL, lambda *_: self._wake.set())
        driver.add_termination_listener(lambda *_: closed.set())
        self._wake.set()  # what was inserted while nobody listened
        await closed.wait()
