"""Retention: a month's partition to a verified archive file, then detached and dropped; and back.

Order of work, so that a crash or an error at any step leaves the partition or a verified archive:
seal what is queued; write the month to `<file>.partial` and fsync; read it back and check every
row against the month's checkpoints; write the manifest; rename both into place and fsync the
directory; only then, in one transaction, detach the partition, drop it and write the
AUDIT_ARCHIVED row. A re-run after a crash finds the archive, checks it and goes on (a table
detached by an earlier version and left standing is checked and dropped the same way).
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal.audit import archive_files, canonical, seal_keys, sealing
from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.repository import lifecycle
from pe_portal.audit.service import record
from pe_portal.audit.verification import next_month
from pe_portal.clock import utcnow
from pe_portal.context import RequestContext
from pe_portal.errors import Conflict, InvalidInput
from pe_portal.progress import NoProgress, Progress

# Tries at the partition's lock (2 s each, a growing pause between them) before giving up.
DETACH_ATTEMPTS = 5

# Rows written between two steps of the progress bar.
_STEP = 1000


@dataclass(frozen=True)
class Archived:
    month: date
    path: Path
    rows: int


def partition_name(month: date) -> str:
    return f"audit_logs_y{month:%Y}m{month:%m}"


def _unwritable(directory: Path, error: OSError) -> InvalidInput:
    reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror or str(error)
    return InvalidInput(
        f"Cannot write the archive in {directory}: {reason}. Nothing was detached or dropped; "
        "the partition is untouched.",
        code="archive_unwritable",
    )


async def _expected(session: AsyncSession, month: date) -> tuple[dict[str, bytes], dict[str, str]]:
    sealed: dict[str, bytes] = {}
    for _seq, ids, blob in await lifecycle.month_entries(session, month):
        sealed.update(zip(ids, canonical.split_digests(blob), strict=False))
    removed = await lifecycle.month_removed(session, month, next_month(month))
    return sealed, removed


def check_file(
    path: Path, sealed: dict[str, bytes], removed: dict[str, str], rows: int | None
) -> int:
    """Every record of the file is a sealed row with its sealed digest, and every sealed row of
    the month is in it (or was removed honestly); InvalidInput naming the first that is not."""
    remaining = dict(sealed)
    count = 0
    for record_ in archive_files.read_rows(path):
        digest = remaining.pop(record_["id"], None)
        if digest is None or canonical.row_digest(record_) != digest:
            raise InvalidInput(
                f"{path}: row {record_['id']} does not match the sealed trail.",
                code="archive_corrupt",
            )
        count += 1
    missing = [row_id for row_id in remaining if row_id not in removed]
    if missing:
        raise InvalidInput(
            f"{path}: sealed row {missing[0]} is not in the archive ({len(missing)} missing).",
            code="archive_corrupt",
        )
    if rows is not None and count != rows:
        raise InvalidInput(
            f"{path}: {count} rows, the partition has {rows}.", code="archive_corrupt"
        )
    return count


async def _write(session: AsyncSession, table: str, final: Path, progress: Progress) -> int:
    writer = archive_files.Writer(final)
    try:
        async for row in lifecycle.month_rows(session, date.min, date.max, table=table):
            writer.write(canonical.row_record(row))
            if writer.rows % _STEP == 0:
                progress.advance(_STEP)
        writer.finish()
    except OSError as error:
        writer.abandon()
        raise _unwritable(final.parent, error) from error
    progress.advance(writer.rows % _STEP)
    return writer.rows


async def archive_month(
    engine: AsyncEngine,
    month: date,
    directory: Path,
    keys: seal_keys.SealKeys,
    context: RequestContext,
    progress: Progress | None = None,
) -> Archived:
    """Archive one month (see the module's docstring). `engine` is the owner role's. One run at
    a time across every process (each server worker's schedule, the CLI)."""
    async with engine.connect() as lock:
        if not await lifecycle.try_archive_lock(lock):
            raise Conflict("Another audit archive is running; try again later.", code="archiving")
        try:
            return await _archive_month(engine, month, directory, keys, context, progress)
        finally:
            await lifecycle.release_archive_lock(lock)


async def _archive_month(
    engine: AsyncEngine,
    month: date,
    directory: Path,
    keys: seal_keys.SealKeys,
    context: RequestContext,
    progress: Progress | None,
) -> Archived:
    progress = progress or NoProgress()
    factory = async_sessionmaker(engine, expire_on_commit=False)
    table = partition_name(month)
    final = archive_files.data_path(directory, month)
    try:
        directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, a directory
    except OSError as error:
        raise _unwritable(directory, error) from error
    await sealing.seal(factory, keys)
    async with factory() as session:
        exists, attached = await lifecycle.table_exists(session, table)
        if not exists:
            raise Conflict(
                f"{month:%Y-%m} has no partition: nothing to archive.", code="no_partition"
            )
        if await lifecycle.month_pending(session, month, next_month(month)):
            raise Conflict(f"{month:%Y-%m} has rows not yet sealed; run it again.", code="unsealed")
        rows = await lifecycle.count_table(session, table)
        sealed, removed = await _expected(session, month)
        if not (final.exists() and archive_files.manifest_path(final).exists()):
            progress.stage(f"archiving {month:%Y-%m}", rows)
            await _write(session, table, final, progress)
            partial = final.with_name(final.name + ".partial")
            check_file(partial, sealed, removed, rows)
            digests = await lifecycle.month_checkpoint_digests(session, month)
            manifest = {
                "format": archive_files.FORMAT,
                "month": f"{month:%Y-%m}",
                "rows": rows,
                "sha256": archive_files.sha256_of(partial),
                "from": month.isoformat(),
                "until": next_month(month).isoformat(),
                "columns": list(canonical.COLUMNS),
                "checkpoints": [{"seq": seq, "digest": d.hex()} for seq, d in digests],
                "archivedAt": canonical.iso_millis(utcnow()),
            }
            try:
                written = archive_files.write_manifest(archive_files.manifest_path(final), manifest)
                partial.rename(final)
                written.rename(archive_files.manifest_path(final))
                archive_files.fsync_dir(directory)
            except OSError as error:
                partial.unlink(missing_ok=True)
                raise _unwritable(directory, error) from error
        # Whatever wrote it (this run or one that crashed), check it again before dropping.
        digest = archive_files.sha256_of(final)
        if digest != archive_files.read_manifest(final)["sha256"]:
            raise InvalidInput(f"{final} does not match its manifest.", code="archive_corrupt")
        check_file(final, sealed, removed, rows)
    details = {"month": f"{month:%Y-%m}", "rows": rows, "file": final.name,
               "sha256": archive_files.read_manifest(final)["sha256"]}  # fmt: skip
    if not await _detach_and_drop(
        factory, table, attached=attached, details=details, context=context
    ):
        raise Conflict(
            f"{table} stayed locked by running queries; it is archived in {final} but "
            "not detached. Run the archive again (it checks the file and goes on).",
            code="detach_locked",
        )
    return Archived(month, final, rows)


async def _detach_and_drop(
    factory: async_sessionmaker[AsyncSession],
    table: str,
    *,
    attached: bool,
    details: dict[str, Any],
    context: RequestContext,
) -> bool:
    """Detach the month's partition, drop it and record AUDIT_ARCHIVED in one transaction, so a
    crash or a kill at any moment leaves the partition attached or all of it done (a table
    detached but not dropped would be out of the schedule's sight). False when running queries
    kept the partition's lock through every attempt."""
    for attempt in range(DETACH_ATTEMPTS):
        try:
            async with factory() as session, session.begin():
                if attached:
                    await lifecycle.detach(session, table)
                await lifecycle.drop_detached(session, table)
                await record(
                    session, action=AuditAction.AUDIT_ARCHIVED, resource=AuditResource.AUDIT,
                    context=context, details=details,
                )  # fmt: skip
        except lifecycle.PartitionLocked:
            await asyncio.sleep(1 + attempt)
        else:
            return True
    return False


async def restore(
    engine: AsyncEngine, path: Path, context: RequestContext, progress: Progress | None = None
) -> Archived:
    """Bring an archived month back as a partition, after checking the file against its manifest
    and the sealed trail. A corrupted file changes nothing."""
    progress = progress or NoProgress()
    manifest = archive_files.read_manifest(path)
    if archive_files.sha256_of(path) != manifest.get("sha256"):
        raise InvalidInput(
            f"{path} does not match its manifest's SHA-256: the file is corrupted. Nothing "
            "was restored.", code="archive_corrupt",
        )  # fmt: skip
    try:
        year, number = (int(part) for part in str(manifest["month"]).split("-"))
        month = date(year, number, 1)
    except (KeyError, ValueError) as error:
        raise InvalidInput(
            f"{path}: the manifest names no month.", code="archive_corrupt"
        ) from error
    factory = async_sessionmaker(engine, expire_on_commit=False)
    table = partition_name(month)
    async with factory() as session, session.begin():
        exists, _ = await lifecycle.table_exists(session, table)
        if exists:
            raise Conflict(f"{month:%Y-%m} is in the database already.", code="partition_exists")
        sealed, removed = await _expected(session, month)
        # Rows of the month written after it was archived are in the DEFAULT partition, not in
        # the file: sealed, but not expected there.
        async for row in lifecycle.month_rows(session, month, next_month(month)):
            sealed.pop(row["id"], None)
        rows = check_file(path, sealed, removed, manifest.get("rows"))
        progress.stage(f"restoring {month:%Y-%m}", rows)
        await lifecycle.create_standalone(session, table)
        batch: list[dict[str, Any]] = []
        for record_ in archive_files.read_rows(path):
            record_["created_at"] = canonical.parse_iso_millis(record_["created_at"])
            batch.append(record_)
            if len(batch) == 5000:
                await lifecycle.insert_rows(session, table, batch)
                progress.advance(len(batch))
                batch = []
        if batch:
            await lifecycle.insert_rows(session, table, batch)
        await lifecycle.record_agents(session, table)
        await lifecycle.ensure_partition(session, month)  # attaches it, with the month's new rows
        await record(
            session, action=AuditAction.AUDIT_RESTORED, resource=AuditResource.AUDIT,
            context=context, details={"month": f"{month:%Y-%m}", "rows": rows, "file": path.name},
        )  # fmt: skip
    return Archived(month, path, rows)
