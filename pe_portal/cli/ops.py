"""Operations commands: `db backup|restore|stats`, `doctor`, `sessions cleanup`."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, cast

import typer
from rich.table import Table

from pe_portal.cli import db, health, recovery, replica
from pe_portal.cli.common import console, database, fail, run
from pe_portal.cli.progress import progress_bars
from pe_portal.config import Settings, get_settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import create_engine, create_sessionmaker
from pe_portal.ops.backup import BackupResult, backup
from pe_portal.ops.cleanup import CleanupResult, cleanup_sessions
from pe_portal.ops.logging import redact_text
from pe_portal.ops.physical import BackupType
from pe_portal.ops.restore import RestoreResult, restore
from pe_portal.progress import Progress

P = ParamSpec("P")
sessions_app = typer.Typer(help="Signed-in sessions (refresh tokens).", no_args_is_help=True)


def guarded(command: Callable[P, None]) -> Callable[P, None]:
    """Last resort: a failure nobody foresaw is still one readable line, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            fail(redact_text(f"unexpected {type(error).__name__}: {error}. Please report it."))

    return wrapper


def register(app: typer.Typer) -> None:
    """Add the operations commands to the `pe-portal` app and its `db` group."""
    db.app.command(name="backup")(guarded(backup_command))
    db.app.command(name="restore")(guarded(restore_command))
    db.app.command(name="backups")(guarded(recovery.backups_command))
    db.app.command(name="recover")(guarded(recovery.recover_command))
    db.app.command(name="verify-backups")(guarded(recovery.verify_command))
    db.app.add_typer(replica.app, name="replica")
    db.app.command(name="stats")(guarded(health.stats_command))
    app.command(name="doctor")(guarded(health.doctor_command))
    sessions_app.command(name="cleanup")(guarded(cleanup_command))
    app.add_typer(sessions_app, name="sessions")


def backup_command(
    file: Path | None = typer.Argument(
        None, help="file or directory to write (default: ./var/backups/pe-portal-<time>.tar)"
    ),
    physical: bool = typer.Option(
        False, "--physical", help="a pgBackRest backup into BACKUP_REPO_DIR (point-in-time)"
    ),
    kind: str = typer.Option("full", "--type", help="with --physical: full, diff or incr"),
) -> None:
    """Back up the database: a pg_dump archive and a manifest of every table, in one file; or,
    with --physical, a pgBackRest backup that point-in-time recovery starts from."""
    settings = get_settings()
    if physical:
        if file is not None:
            fail("--physical writes into the pgBackRest repository (BACKUP_REPO_DIR), not FILE.")
        if kind not in ("full", "diff", "incr"):
            fail(f"--type must be full, diff or incr, not {kind!r}.")
        recovery.physical_backup(settings, cast(BackupType, kind))
        return
    with database(settings) as urls, progress_bars() as bars:
        result = run(lambda: backup(settings, urls.migration, file, bars))
    _print_backup(result)


def _print_backup(result: BackupResult) -> None:
    manifest = result.manifest
    table = Table("table", "rows", "checksum", title=f"backup written: {result.path}")
    for name, digest in manifest.tables.items():
        table.add_row(name, str(digest.rows), digest.checksum)
    console.print(table)
    console.print(
        f"schema revision {manifest.schema_revision or '(none)'} · "
        f"PostgreSQL {manifest.server_major} · {manifest.dump.bytes} bytes of dump · "
        "the file holds password hashes and session digests: store it as a secret."
    )


def restore_command(
    file: Path = typer.Argument(..., help="a backup written by `pe-portal db backup`"),
    force: bool = typer.Option(
        False, "--force", help="restore into a database that is not empty (replaces its objects)"
    ),
    keep_sessions: bool = typer.Option(
        False, "--keep-sessions", help="do not revoke the restored sessions (not recommended)"
    ),
) -> None:
    """Restore a backup, all or nothing; restored sessions are revoked unless --keep-sessions."""
    settings = get_settings()
    with database(settings) as urls, progress_bars() as bars:
        result = run(
            lambda: restore(
                settings,
                urls.migration,
                file,
                force=force,
                revoke_sessions=not keep_sessions,
                progress=bars,
            )
        )
    _print_restore(result)


def _print_restore(result: RestoreResult) -> None:
    manifest = result.manifest
    rows = sum(digest.rows for digest in manifest.tables.values())
    console.print(
        f"[green]restored[/] {len(manifest.tables)} tables, {rows} rows, from a backup taken "
        f"{manifest.created_at:%Y-%m-%d %H:%M:%S} UTC; every table matches the manifest."
    )
    if result.sessions_revoked:
        console.print(f"restored sessions revoked: {result.sessions} (their users sign in again).")
    else:
        console.print("[yellow]restored sessions were kept (--keep-sessions).[/]")
    if result.grants_applied:
        console.print("the app role's grants are applied (audit_logs: SELECT, INSERT only).")
    elif result.at_head:
        console.print(
            "[yellow]the app role (DATABASE_APP_ROLE) does not exist here: create it (README "
            "'Database roles'), then run `pe-portal db deploy` to grant it its rights.[/]"
        )
    else:
        console.print(
            "[yellow]the backup's schema is older than this version: run `pe-portal db deploy` "
            "to migrate it and grant the app role its rights.[/]"
        )
    console.print(
        "[bold]next:[/] run `pe-portal keys rotate` to start a new signing key (docs/operations.md, "
        "'Key rotation')."
    )


def cleanup_command() -> None:
    """Delete expired sessions and those revoked longer than SESSION_CLEANUP_REVOKED_RETENTION."""
    settings = get_settings()
    with database(settings) as urls, progress_bars() as bars:
        result = run(lambda: _cleanup(settings, urls.app, bars))
    if not result.ran:
        console.print(f"nothing done: {result.reason}.")
        return
    console.print(f"deleted {result.deleted} stale sessions (audited as SESSIONS_CLEANED_UP).")


async def _cleanup(settings: Settings, url: str, progress: Progress) -> CleanupResult:
    # Two connections: one holds the advisory lock, the other deletes batch after batch.
    engine = create_engine(settings, url, pool_size=2)
    try:
        context = RequestContext(actor=f"cli:{getpass.getuser()}")
        return await cleanup_sessions(
            create_sessionmaker(engine), settings, context=context, progress=progress
        )
    finally:
        await engine.dispose()
