"""The WAL archive as the server sees it: force the current segment out, wait for the archiver,
and read pg_stat_archiver (for `db recover`, `doctor`, `/ready` and `/metrics`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from pe_portal.db.engine import to_async_url

_ARCHIVER = text(
    "SELECT current_setting('archive_mode') AS mode, archived_count AS archived, "
    "last_archived_wal, last_archived_time, failed_count AS failed, last_failed_wal, "
    "last_failed_time FROM pg_stat_archiver"
)
# A transaction id makes a commit record: recovery to a time needs a commit past it to stop at.
_MARK = text("SELECT txid_current()")
_SWITCH = text("SELECT pg_walfile_name(pg_switch_wal()) AS segment, clock_timestamp() AS at")


@dataclass(frozen=True)
class Archiver:
    mode: str
    archived: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed: int
    last_failed_wal: str | None
    last_failed_time: datetime | None

    @property
    def failing(self) -> bool:
        """The last attempt failed (a failure followed by a success is history)."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time


async def archiver(connection: AsyncConnection) -> Archiver:
    row = (await connection.execute(_ARCHIVER)).mappings().one()
    return Archiver(**row)


class WalNotArchived(Exception):
    """The segment holding the wanted moment did not reach the archive."""


async def archive_now(url: str, wait_seconds: float = 60.0) -> datetime:
    """Close the current WAL segment and wait until the archiver has it; the server's time
    at the switch (every commit up to it is then in the archive)."""
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as raw:
            connection = await raw.execution_options(isolation_level="AUTOCOMMIT")
            if (await archiver(connection)).mode == "off":
                raise WalNotArchived(
                    "archive_mode is off on this server (is pgBackRest installed?)"
                )
            await connection.execute(_MARK)  # its own transaction, committed before the switch
            segment, at = (await connection.execute(_SWITCH)).one()
            await _wait_for(connection, segment, wait_seconds)
            return at  # type: ignore[no-any-return]
    finally:
        await engine.dispose()


async def _wait_for(connection: AsyncConnection, segment: str, wait_seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        state = await archiver(connection)
        if state.last_archived_wal and state.last_archived_wal >= segment:
            return
        if state.failing and state.last_failed_wal == segment:
            raise WalNotArchived(f"the archiver fails on {segment} (see the server log)")
        if asyncio.get_running_loop().time() > deadline:
            raise WalNotArchived(f"{segment} was not archived within {wait_seconds:.0f} s")
        await asyncio.sleep(0.2)
