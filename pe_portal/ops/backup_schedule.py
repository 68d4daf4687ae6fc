"""The server's daily full backup (BACKUP_SCHEDULE, HH:MM UTC, off by default) and the alert when
the newest good physical backup is older than BACKUP_MAX_AGE (26 h): a log line and a metric.

Every server process ticks; pgBackRest's own lock lets one backup run at a time, and a backup
already taken since the scheduled moment means there is nothing to do.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta

from pe_portal import metrics
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db.archive import ArchiveError
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops import physical
from pe_portal.progress import NoProgress

log = logging.getLogger(__name__)
_CHECK_EVERY = 3600.0  # seconds between two looks at the newest backup's age
_newest_age: list[float | None] = [None]  # the last age seen, for /ready


def last_known_age() -> float | None:
    """Seconds since the newest good backup finished, as the schedule last saw it."""
    return _newest_age[0]


def next_run(now: datetime, at: str) -> datetime:
    """The next moment `at` (HH:MM UTC) strictly after `now`."""
    hour, minute = (int(part) for part in at.split(":"))
    today = datetime.combine(now.date(), time(hour, minute), tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)


def check_age(settings: Settings, inventory: physical.Inventory, now: datetime) -> float | None:
    """Set the gauge; warn when the newest good backup is too old (or there is none)."""
    newest = inventory.newest_good()
    age = (now - newest.stopped).total_seconds() if newest else None
    _newest_age[0] = age
    metrics.BACKUP_AGE.set(-1 if age is None else age)
    if age is None or age > settings.backup_max_age:
        shown = "none taken" if age is None else f"{age / 3600:.1f} h old"
        log.warning(
            "no good physical backup within BACKUP_MAX_AGE (%d s): newest is %s",
            settings.backup_max_age, shown,
        )  # fmt: skip
    return age


def _tick(settings: Settings, urls: DatabaseUrls, due: datetime | None) -> None:
    """One look: take the due backup unless a process already did, then check the age."""
    backrest = physical.locate(settings, urls)
    state = physical.inventory(backrest)
    taken = state.newest_good()
    if due is not None and (taken is None or taken.started < due):
        try:
            physical.take_backup(backrest, "full", NoProgress())
            log.info("scheduled full backup taken")
        except ArchiveError as error:  # another worker holds the lock, or a real failure
            log.warning("scheduled backup not taken: %s", error)
        state = physical.inventory(backrest)
    check_age(settings, state, utcnow())


async def run_schedule(settings: Settings) -> None:
    """Forever: the daily full backup at BACKUP_SCHEDULE, and the age check every hour."""
    urls = DatabaseUrls(settings.database_url or "", settings.database_migration_url or "")
    at = settings.backup_schedule or "00:00"
    upcoming = next_run(utcnow(), at)
    due: datetime | None = None
    while True:
        try:
            await asyncio.to_thread(_tick, settings, urls, due)
        except Exception:  # the schedule must outlive any one failure; the log says which
            log.exception("backup schedule: the check failed; retried within the hour")
        wait = min(_CHECK_EVERY, (upcoming - utcnow()).total_seconds())
        await asyncio.sleep(max(wait, 0.0))
        due = None
        if utcnow() >= upcoming:
            due, upcoming = upcoming, next_run(utcnow(), at)


def start(settings: Settings) -> asyncio.Task[None] | None:
    """Start the schedule in this server process (None when BACKUP_SCHEDULE is unset)."""
    if settings.backup_schedule is None:
        return None
    return asyncio.create_task(run_schedule(settings), name="pe-portal backup schedule")
