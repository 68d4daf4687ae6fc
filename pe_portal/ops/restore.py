"""`db restore`: all or nothing. The archive is checked first; then pg_restore's script, the
manifest check and the revocation of restored sessions run in ONE transaction through psql, so a
failure anywhere leaves the target as it was. Grants are re-applied afterwards."""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from pe_portal.config import Settings
from pe_portal.db import migrate
from pe_portal.db.engine import create_engine
from pe_portal.db.privileges import apply_grants
from pe_portal.errors import Conflict, InvalidInput
from pe_portal.ops import repository
from pe_portal.ops.manifest import Manifest, extract_dump, read_manifest
from pe_portal.ops.pgtools import (
    OperationFailed,
    PgTools,
    find_tools,
    last_lines,
    libpq_environment,
    stream_lines,
)
from pe_portal.progress import Progress

# Extensions need a superuser; the target's administrator creates them (README, operations.md).
# pg_trgm (the search indexes) is a trusted extension: the owner role creates it itself.
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION - (?!pg_trgm )|COMMENT - EXTENSION )")


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    sessions: int
    sessions_revoked: bool
    grants_applied: bool
    at_head: bool


@dataclass(frozen=True)
class RestorePlan:
    dump: Path
    toc: Path
    data_entries: int
    clean: bool


def _check_revision(manifest: Manifest, path: Path) -> None:
    if manifest.schema_revision is None:
        return
    script = ScriptDirectory.from_config(migrate.alembic_config(""))
    try:
        script.get_revision(manifest.schema_revision)
    except CommandError as error:
        raise InvalidInput(
            f"{path} holds schema revision {manifest.schema_revision}, which this pe-portal does "
            "not know (a backup from a newer version?). Restore it with that version.",
            code="backup_revision_unknown",
        ) from error


async def restore(
    settings: Settings,
    url: str,
    source: Path,
    *,
    force: bool,
    revoke_sessions: bool,
    progress: Progress,
) -> RestoreResult:
    """Restore the backup at `source` into the database at `url` (the owner role)."""
    manifest = read_manifest(source)
    _check_revision(manifest, source)
    engine = create_engine(settings, url, pool_size=1)
    try:
        async with engine.connect() as connection:
            version_num, _ = await repository.server_version(connection)
            occupied = await repository.occupied_relations(connection)
        if occupied and not force:
            raise _not_empty(occupied)
        tools = await asyncio.to_thread(find_tools, version_num // 10000)
        with tempfile.TemporaryDirectory(prefix="pe-portal-restore-") as scratch:
            dump = await asyncio.to_thread(extract_dump, source, manifest, Path(scratch), progress)
            plan = await _plan(tools, source, dump, clean=bool(occupied))
            await _run(tools, url, plan, _epilogue(manifest, revoke_sessions), progress)
        at_head = manifest.schema_revision == migrate.head_revision()
        async with engine.begin() as connection:
            granted = at_head and await apply_grants(connection, settings.database_app_role)
            sessions = await repository.session_count(connection)
    finally:
        await engine.dispose()
    return RestoreResult(manifest, sessions, revoke_sessions, granted, at_head)


def _epilogue(manifest: Manifest, revoke_sessions: bool) -> str:
    expected = {name: digest.model_dump() for name, digest in manifest.tables.items()}
    return repository.restore_epilogue(expected, revoke_sessions=revoke_sessions)


def _not_empty(occupied: list[str]) -> Conflict:
    more = ", …" if len(occupied) >= repository.OCCUPIED_SHOWN else ""
    return Conflict(
        f"The target database is not empty (it holds {', '.join(occupied)}{more}). Restore into "
        "an empty database, or pass --force to replace the objects the backup contains (in one "
        "transaction: on any failure the database stays as it is).",
        code="restore_target_not_empty",
    )


async def _plan(tools: PgTools, source: Path, dump: Path, *, clean: bool) -> RestorePlan:
    """Read the archive's table of contents (proving pg_restore can read it) and filter it."""
    process = await asyncio.create_subprocess_exec(
        tools.path("pg_restore"), "--list", str(dump),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        raise InvalidInput(
            f"{source} is not a usable pe-portal backup: pg_restore cannot read its dump "
            f"({last_lines(err.decode(errors='replace').splitlines())}). Nothing was restored.",
            code="backup_unreadable",
        )
    entries = [line for line in out.decode().splitlines() if not _EXTENSION_ENTRY.match(line)]
    toc = dump.with_suffix(".list")
    toc.write_text("\n".join(entries) + "\n")
    return RestorePlan(
        dump=dump,
        toc=toc,
        data_entries=sum(" TABLE DATA " in line for line in entries),
        clean=clean,
    )


async def _start(
    tools: PgTools, url: str, plan: RestorePlan
) -> tuple[asyncio.subprocess.Process, asyncio.subprocess.Process]:
    """pg_restore writing the restore script, and psql that will run it against `url`."""
    clean = ["--clean", "--if-exists"] if plan.clean else []
    producer = await asyncio.create_subprocess_exec(
        tools.path("pg_restore"), "--verbose", "--no-owner", "--no-privileges", *clean,
        f"--use-list={plan.toc}", "--file=-", str(plan.dump),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    consumer = await asyncio.create_subprocess_exec(
        tools.path("psql"), "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
        "--file=-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, env=libpq_environment(url),
    )  # fmt: skip
    return producer, consumer


async def _run(
    tools: PgTools, url: str, plan: RestorePlan, epilogue: str, progress: Progress
) -> None:
    """pg_restore's script fed to one psql transaction; COMMIT is sent only after pg_restore
    succeeded, and the epilogue's manifest check fails the transaction itself."""
    producer, consumer = await _start(tools, url, plan)
    produced: list[str] = []
    consumed: list[str] = []

    def on_restore_line(line: str) -> None:
        produced.append(line)
        if "processing data for table" in line:
            progress.advance()

    progress.stage("restoring tables", plan.data_entries)
    # pg_restore --clean drops a partitioned table piece by piece and stumbles on the partitions'
    # inherited keys; dropping the partitioned audit_logs whole first makes those drops no-ops.
    prologue = "DROP TABLE IF EXISTS public.audit_logs CASCADE;\n" if plan.clean else ""
    failed, *_ = await asyncio.gather(
        _pump(producer, consumer, epilogue, prologue),
        stream_lines(producer.stderr, on_restore_line),
        stream_lines(consumer.stderr, consumed.append),
    )
    if await consumer.wait() != 0 and failed is None:
        failed = "psql"
    if failed is not None:
        reason = last_lines(produced if failed == "pg_restore" else consumed)
        raise OperationFailed(
            f"The restore failed and was rolled back; the database is as it was. {reason}",
            code="restore_failed",
        )


async def _pump(
    producer: asyncio.subprocess.Process,
    consumer: asyncio.subprocess.Process,
    epilogue: str,
    prologue: str = "",
) -> str | None:
    """Copy the script into psql inside BEGIN, then COMMIT; else the name of what failed first
    (closing psql's input without COMMIT ends its transaction unfinished: rolled back)."""
    if producer.stdout is None or consumer.stdin is None:
        raise RuntimeError("pg_restore and psql must be started with pipes")
    sink = consumer.stdin
    try:
        sink.write(b"BEGIN;\n" + prologue.encode())
        while chunk := await producer.stdout.read(1 << 16):
            sink.write(chunk)
            await sink.drain()
        if await producer.wait() != 0:
            return "pg_restore"
        sink.write(f"\n{epilogue}COMMIT;\n".encode())
        await sink.drain()
        return None
    except (BrokenPipeError, ConnectionResetError):  # psql stopped at an error: it said why
        if producer.returncode is None:
            producer.kill()
        await producer.wait()
        return "psql"
    finally:
        sink.close()
