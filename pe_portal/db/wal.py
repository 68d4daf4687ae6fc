"""The WAL archive as the server sees it: force the current segment out, wait for the archiver,
and read pg_stat_archiver (for `db recover`, `doctor`, `/ready` and `/metrics`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import asyncpg  # type: ignore[import-untyped]

_ARCHIVER = """
SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,
       last_failed_time, current_setting('archive_mode') AS archive_mode
FROM pg_stat_archiver
"""
# A transaction id makes a commit record: recovery to a time needs a commit past it to stop at.
_MARK = "SELECT txid_current()"
_SWITCH = "SELECT pg_walfile_name(pg_switch_wal()) AS segment, clock_timestamp() AS at"


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


async def archiver(connection: asyncpg.Connection) -> Archiver:
    row = await connection.fetchrow(_ARCHIVER)
    return Archiver(
        mode=row["archive_mode"], archived=row["archived_count"],
        last_archived_wal=row["last_archived_wal"], last_archived_time=row["last_archived_time"],
        failed=row["failed_count"], last_failed_wal=row["last_failed_wal"],
        last_failed_time=row["last_failed_time"],
    )  # fmt: skip


class WalNotArchived(Exception):
    """The segment holding the wanted moment did not reach the archive."""


async def archive_now(url: str, wait_seconds: float = 60.0) -> datetime:
    """Close the current WAL segment and wait until the archiver has it; the server's time
    at the switch (every commit up to it is then in the archive)."""
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(_MARK)  # its own transaction, committed before the switch
        row = await connection.fetchrow(_SWITCH)
        segment, at = row["segment"], row["at"]
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            state = await archiver(connection)
            if state.last_archived_wal and state.last_archived_wal >= segment:
                return at  # type: ignore[no-any-return]
            if state.failing and state.last_failed_wal == segment:
                raise WalNotArchived(f"the archiver fails on {segment} (see the server log)")
            if asyncio.get_running_loop().time() > deadline:
                raise WalNotArchived(f"{segment} was not archived within {wait_seconds:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
