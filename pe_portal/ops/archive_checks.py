"""`doctor`'s checks of point-in-time recovery: is WAL archived (pg_stat_archiver), and how old
is the newest good physical backup."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db import wal
from pe_portal.db.archive import ArchiveError
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops import physical
from pe_portal.ops.checks import Check, Status

_RUNBOOK = "See docs/operations.md, 'Backups and point-in-time recovery'."


async def archiving(connection: AsyncConnection) -> Check:
    state = await wal.archiver(connection)
    if state.mode == "off":
        fix = (
            f"Install pgBackRest and restart the embedded cluster, or set archive_mode. {_RUNBOOK}"
        )
        return Check(
            "WAL archiving", Status.WARN, "archive_mode is off: no point-in-time recovery", fix
        )
    if state.failing:
        detail = (
            f"failing since {state.last_failed_time:%Y-%m-%d %H:%M} UTC on {state.last_failed_wal}"
        )
        fix = f"Read the server log and pgBackRest's log; a full backup disk is the usual cause. {_RUNBOOK}"
        return Check("WAL archiving", Status.FAIL, detail, fix)
    last = state.last_archived_wal or "none yet"
    return Check("WAL archiving", Status.OK, f"{state.archived} segments archived; last {last}")


async def backups(settings: Settings, urls: DatabaseUrls) -> Check:
    try:
        state = await asyncio.to_thread(lambda: physical.inventory(physical.locate(settings, urls)))
    except ArchiveError as error:
        return Check("physical backups", Status.WARN, str(error), _RUNBOOK)
    newest = state.newest_good()
    if newest is None:
        return Check(
            "physical backups", Status.WARN, "none taken",
            "Run `pe-portal db backup --physical`, and set BACKUP_SCHEDULE for a daily one.",
        )  # fmt: skip
    hours = (utcnow() - newest.stopped).total_seconds() / 3600
    detail = f"newest good: {newest.type} {newest.label}, {hours:.1f} h old"
    if hours * 3600 > settings.backup_max_age:
        fix = "Take one now (`pe-portal db backup --physical`) and check BACKUP_SCHEDULE."
        return Check("physical backups", Status.FAIL, detail + " (older than BACKUP_MAX_AGE)", fix)
    return Check("physical backups", Status.OK, detail)
