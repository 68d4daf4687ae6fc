"""The audit trail's hourly upkeep in a server: partitions kept ahead, and (when
AUDIT_RETENTION_MONTHS and AUDIT_ARCHIVE_DIR are set) the months past retention archived — in a
process of its own at the lowest CPU priority.

A server worker used to archive in a nice-19 thread of its own, which still shared the worker's
GIL: a CPU-bound thread holds it for 5-ms slices whatever its nice level, and the event loop
waits for each (beside such a thread a loop's 1-ms tick went from p99 4 to 34 ms; beside a
nice-19 process, 5 ms: docs/benchmarks.md). In a process of its own the archive's JSON, gzip and
digests take only the CPU that requests leave, and none of the loop's time.

The worker writes the settings and the months to the child's standard input as JSON; the child
answers one JSON line per month archived, or `{"busy": true}` when another process holds the
archive. A failure is a readable message on its standard error and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pe_portal.audit import archiving, partitions, seal_keys
from pe_portal.config import Settings
from pe_portal.context import SYSTEM
from pe_portal.db.engine import create_engine
from pe_portal.errors import Conflict, InvalidInput, PortalError

log = logging.getLogger("pe_portal.ops.retention")
_CHECK_EVERY = 3600.0


class ArchiveFailed(RuntimeError):
    """The archive's process failed; its message says why (the schedule logs it and retries)."""


@dataclass(frozen=True)
class Outcome:
    archived: list[archiving.Archived]
    busy: bool  # another process held the archive: the months left are its to do


async def _tick(factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    await partitions.keep_ahead(factory)
    if settings.audit_retention_months == 0 or settings.audit_archive_dir is None:
        return
    async with factory() as session:
        due = partitions.due_months(
            await partitions.listing(session), settings.audit_retention_months
        )
    if not due:
        return
    outcome = await archive_months(settings, settings.audit_archive_dir, due)
    for archived in outcome.archived:
        log.info(
            "audit month %s archived to %s (%d rows)",
            f"{archived.month:%Y-%m}",
            archived.path,
            archived.rows,
        )
    if outcome.busy:
        # Every server worker runs this schedule; one archives, the others find it busy.
        log.info("audit retention: another process is archiving; this one leaves it")


async def run_schedule(factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Forever, hourly: partitions ahead; months past retention archived (when configured)."""
    while True:
        try:
            await _tick(factory, settings)
        except Exception:  # the schedule outlives one failure; the log says which
            log.exception("audit partition/retention check failed; retried within the hour")
        await asyncio.sleep(_CHECK_EVERY)


def start(factory: async_sessionmaker[AsyncSession], settings: Settings) -> asyncio.Task[None]:
    return asyncio.create_task(run_schedule(factory, settings), name="pe-portal audit upkeep")


def _command() -> list[str]:
    # `nice` before Python starts: even the child's imports take only idle CPU.
    lowest = ["nice", "-n", "19"] if shutil.which("nice") else []
    return [*lowest, sys.executable, "-m", "pe_portal.cli.archive_child"]


async def archive_months(settings: Settings, directory: Path, months: list[date]) -> Outcome:
    """Archive `months` (oldest first) into `directory` in a child process. A cancelled
    caller (the server stopping) kills the child: every step of an archive leaves the partition
    or a verified file, and the next run goes on from there."""
    request = {
        "settings": settings.model_dump(mode="json"),
        "directory": str(directory),
        "months": [month.isoformat() for month in months],
    }
    child = await asyncio.create_subprocess_exec(
        *_command(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await child.communicate(json.dumps(request).encode())
    except asyncio.CancelledError:
        child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        reason = err.decode(errors="replace").strip() or f"exit status {child.returncode}"
        raise ArchiveFailed(f"the scheduled audit archive failed: {reason}")
    answers = [json.loads(line) for line in out.decode().splitlines() if line]
    archived = [
        archiving.Archived(date.fromisoformat(a["month"]), Path(a["path"]), a["rows"])
        for a in answers
        if not a.get("busy")
    ]
    return Outcome(archived, busy=len(archived) < len(answers))


async def _archive_in_child(request: dict[str, Any]) -> None:
    settings = Settings(_env_file=None, **request["settings"])
    keys = seal_keys.load(settings.audit_seal_key_dir, create=True)
    # As the owner role, which may detach and drop.
    url = settings.database_migration_url or settings.database_url
    if url is None:
        raise InvalidInput("Neither DATABASE_MIGRATION_URL nor DATABASE_URL is set.")
    engine = create_engine(settings, url, pool_size=2)  # the archive lock's and the work's
    try:
        for month in request["months"]:
            archived = await archiving.archive_month(
                engine, date.fromisoformat(month), Path(request["directory"]), keys, SYSTEM
            )
            answer = {"month": archived.month.isoformat(), "path": str(archived.path),
                      "rows": archived.rows}  # fmt: skip
            print(json.dumps(answer), flush=True)
    finally:
        await engine.dispose()


def child_main() -> int:
    """The child (`pe_portal.cli.archive_child`): archive what standard input asks for."""
    request = json.loads(sys.stdin.read())
    try:
        asyncio.run(_archive_in_child(request))
    except PortalError as error:
        if isinstance(error, Conflict) and error.code == "archiving":
            print(json.dumps({"busy": True}), flush=True)
            return 0
        print(error.message, file=sys.stderr)
        return 1
    except (DBAPIError, OSError) as error:
        print(f"the database is unavailable: {error}", file=sys.stderr)
        return 1
    return 0
