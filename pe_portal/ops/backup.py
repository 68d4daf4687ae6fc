"""`db backup`: a pg_dump archive and its manifest, both taken from one snapshot."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from pe_portal import __version__
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from pe_portal.errors import InvalidInput
from pe_portal.ops import repository
from pe_portal.ops.manifest import DUMP_NAME, Manifest, file_digest, table_digests, write_archive
from pe_portal.ops.pgtools import (
    OperationFailed,
    PgTools,
    find_tools,
    last_lines,
    libpq_environment,
    stream_lines,
)
from pe_portal.progress import Progress

DEFAULT_DIR = Path("var/backups")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: Manifest


def backup_path(target: Path | None) -> Path:
    """Where the backup goes: FILE, a fresh name inside a directory, or ./var/backups/."""
    name = f"pe-portal-{utcnow():%Y%m%dT%H%M%SZ}.tar"
    if target is None:
        try:
            DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InvalidInput(f"Cannot create {DEFAULT_DIR}: {error.strerror}.") from error
        return DEFAULT_DIR / name
    if target.is_dir():
        return target / name
    if target.exists():
        raise InvalidInput(
            f"{target} already exists; a backup never overwrites: choose a new name."
        )
    if not target.parent.is_dir():
        why = "is not a directory" if target.parent.exists() else "does not exist"
        raise InvalidInput(f"Cannot write {target}: {target.parent} {why}.")
    return target


@contextmanager
def _scratch_beside(path: Path) -> Iterator[Path]:
    """A private directory next to the target: proves it writable before the database is touched."""
    try:
        scratch = tempfile.TemporaryDirectory(dir=path.parent, prefix=".pe-portal-backup-")
    except OSError as error:
        raise InvalidInput(
            f"Cannot write a backup into {path.parent}: {error.strerror or error}."
        ) from error
    with scratch as directory:
        yield Path(directory)


async def backup(
    settings: Settings, url: str, target: Path | None, progress: Progress
) -> BackupResult:
    """Dump the database at `url` (the owner role) into one backup file."""
    path = backup_path(target)
    with _scratch_beside(path) as scratch:
        engine = create_engine(settings, url, pool_size=1)
        try:
            async with engine.connect() as connection:
                snapshot_reader = await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                async with snapshot_reader.begin():
                    manifest = await _dump(snapshot_reader, url, scratch, progress)
        finally:
            await engine.dispose()
        progress.stage("writing the backup file")
        write_archive(path, manifest, scratch / DUMP_NAME)
    return BackupResult(path, manifest)


async def _dump(
    connection: AsyncConnection, url: str, scratch: Path, progress: Progress
) -> Manifest:
    """Inside one snapshot: count and checksum every table, then pg_dump that same snapshot."""
    snapshot = await repository.export_snapshot(connection)
    version_num, version = await repository.server_version(connection)
    tools = await asyncio.to_thread(find_tools, version_num // 10000)
    revision = await repository.schema_revision(connection)
    tables = await table_digests(connection, progress)
    dump_file = scratch / DUMP_NAME
    progress.stage("dumping tables", len(tables))
    await _run_pg_dump(tools, url, snapshot, dump_file, progress)
    return Manifest(
        created_at=utcnow(),
        pe_portal_version=__version__,
        database=connection.engine.url.database or "",
        server_version=version,
        server_major=tools.major,
        schema_revision=revision,
        tables=tables,
        dump=await asyncio.to_thread(file_digest, dump_file),
    )


async def _run_pg_dump(
    tools: PgTools, url: str, snapshot: str, dump_file: Path, progress: Progress
) -> None:
    args = [
        "--format=custom", "--verbose", "--no-password", f"--snapshot={snapshot}",
        "--lock-wait-timeout=30000", f"--file={dump_file}",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        tools.path("pg_dump"),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=libpq_environment(url),
    )
    messages: list[str] = []

    def on_line(line: str) -> None:
        messages.append(line)
        if "dumping contents of table" in line:
            progress.advance()

    await stream_lines(process.stderr, on_line)
    if await process.wait() != 0:
        raise OperationFailed(f"pg_dump failed: {last_lines(messages)}", code="backup_failed")
