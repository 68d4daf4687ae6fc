"""Read routing over the primary and its replicas (DATABASE_REPLICA_URLS).

Read-only work may go to a replica that has replayed the reader's own last write (its commit
LSN, carried by the client) and lags less than REPLICA_MAX_LAG; otherwise, or when the replica
fails, the primary. What is known about the replicas is refreshed in the background, at most
every `_REFRESH_INTERVAL`, so choosing costs no round trip: a stale view only ever under-states
how far a replica got, which errs towards the primary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal.config import Settings
from pe_portal.db.engine import (
    create_engine,
    create_read_sessionmaker,
    create_snapshot_sessionmaker,
)

log = logging.getLogger(__name__)
_REFRESH_INTERVAL = 0.5  # seconds
_PROBE_TIMEOUT = 1.0
_REMEMBERED_WRITERS = 10_000
_PRIMARY_LSN = text("SELECT pg_current_wal_lsn()::text")
_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
)


def parse_lsn(value: str | None) -> int:
    """`16/B374D848` as a number; anything unreadable as 0 (no constraint)."""
    try:
        high, low = (value or "").strip().split("/")
        return (int(high, 16) << 32) + int(low, 16)
    except ValueError:
        return 0


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass
class Replica:
    name: str  # host:port, never the password
    engine: AsyncEngine
    reads: async_sessionmaker[AsyncSession]
    snapshots: async_sessionmaker[AsyncSession]
    replay_lsn: int = 0
    lag_seconds: float | None = None
    healthy: bool = False
    error: str | None = "not probed yet"


@dataclass
class ReadRouter:
    """The replicas, what was last learnt about them, and the writers' last commit LSNs."""

    primary: AsyncEngine
    replicas: list[Replica]
    max_lag: float
    _writers: OrderedDict[str, int] = field(default_factory=OrderedDict)
    _refreshed: float = 0.0
    _refreshing: asyncio.Task[None] | None = None

    def choose(self, min_lsn: int) -> Replica | None:
        """A replica that has `min_lsn` and lags little enough, or None (the primary)."""
        self._refresh_soon()
        for replica in self.replicas:
            lag_ok = replica.lag_seconds is not None and replica.lag_seconds < self.max_lag
            if replica.healthy and lag_ok and replica.replay_lsn >= min_lsn:
                return replica
        return None

    def remember_write(self, writer: str, lsn: int) -> None:
        """This process's memory of a writer's last commit (clients without cookies)."""
        self._writers[writer] = max(lsn, self._writers.pop(writer, 0))
        while len(self._writers) > _REMEMBERED_WRITERS:
            self._writers.popitem(last=False)

    def last_write(self, writer: str) -> int:
        return self._writers.get(writer, 0)

    def mark_failed(self, replica: Replica, error: BaseException) -> None:
        replica.healthy, replica.error = False, type(error).__name__
        log.warning("replica %s failed (%s): reading from the primary", replica.name, replica.error)

    def _refresh_soon(self) -> None:
        stale = time.monotonic() - self._refreshed > _REFRESH_INTERVAL
        if stale and (self._refreshing is None or self._refreshing.done()):
            self._refreshed = time.monotonic()
            self._refreshing = asyncio.get_running_loop().create_task(self.refresh())

    async def refresh(self) -> None:
        """Learn each replica's replay position and lag (the primary's position to compare)."""
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT), self.primary.connect() as connection:
                primary_lsn = parse_lsn((await connection.execute(_PRIMARY_LSN)).scalar())
        except Exception:  # the primary down: replicas are judged on their own
            primary_lsn = 0
        await asyncio.gather(*(self._probe(replica, primary_lsn) for replica in self.replicas))

    async def _probe(self, replica: Replica, primary_lsn: int) -> None:
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT), replica.engine.connect() as connection:
                recovering, replay, lag = (await connection.execute(_REPLICA_STATE)).one()
        except Exception as error:  # refused, timed out, shutting down: all mean "not now"
            replica.healthy, replica.error = False, type(error).__name__
            return
        replica.replay_lsn = parse_lsn(replay)
        caught_up = primary_lsn and replica.replay_lsn >= primary_lsn
        replica.lag_seconds = 0.0 if caught_up else (lag if lag is not None else None)
        replica.healthy, replica.error = bool(recovering), None if recovering else "promoted"

    async def dispose(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        for replica in self.replicas:
            await replica.engine.dispose()


def _name(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host}:{parsed.port or 5432}"


def create_router(settings: Settings, primary: AsyncEngine) -> ReadRouter | None:
    """The router for DATABASE_REPLICA_URLS, or None when there are none."""
    if not settings.database_replica_urls:
        return None
    replicas = []
    for url in settings.database_replica_urls:
        engine = create_engine(settings, url, pool_pre_ping=True)
        reads, snapshots = create_read_sessionmaker(engine), create_snapshot_sessionmaker(engine)
        replicas.append(Replica(_name(url), engine, reads, snapshots))
    return ReadRouter(primary, replicas, settings.replica_max_lag)


async def primary_lsn(engine: AsyncEngine) -> int:
    """The primary's WAL position now: at or past every commit made before this call."""
    async with engine.connect() as connection:
        return parse_lsn((await connection.execute(_PRIMARY_LSN)).scalar())
