"""`pe-portal db backup --physical|backups|recover|verify-backups`: pgBackRest (DESIGN
"Recovery and replicas"); the logical `db backup FILE` / `db restore FILE` stay in cli/ops.py."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from pe_portal.cli.common import console, database, friendly_errors, run
from pe_portal.cli.progress import progress_bars
from pe_portal.config import Settings, get_settings
from pe_portal.db.archive import BackRest
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops import physical, pitr


def backrest_of(settings: Settings, urls: DatabaseUrls) -> BackRest:
    with friendly_errors():
        return physical.locate(settings, urls)


def physical_backup(settings: Settings, kind: physical.BackupType) -> None:
    """`db backup --physical`: one pgBackRest backup, then what it wrote."""
    with database(settings) as urls, friendly_errors(), progress_bars() as bars:
        backup = physical.take_backup(backrest_of(settings, urls), kind, bars)
    console.print(
        f"[green]{backup.type} backup {backup.label}[/] · {backup.size / 1e6:.1f} MB of data, "
        f"{backup.repo_size / 1e6:.1f} MB stored · "
        f"{(backup.stopped - backup.started).total_seconds():.0f} s · WAL from {backup.wal_start}"
    )


def backups_command(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List the physical backups: type, start/stop time, size, WAL range."""
    settings = get_settings()
    with database(settings) as urls, friendly_errors():
        state = physical.inventory(backrest_of(settings, urls))
    if as_json:
        body = {
            "backups": [backup.as_json() for backup in state.backups],
            "wal": {"min": state.wal_min, "max": state.wal_max},
        }
        typer.echo(json.dumps(body, indent=2))
        return
    table = Table("label", "type", "started (UTC)", "stopped (UTC)", "size", "stored", "WAL")
    for backup in state.backups:
        table.add_row(
            backup.label + ("" if backup.good else " [red](error)[/]"), backup.type,
            f"{backup.started:%Y-%m-%d %H:%M:%S}", f"{backup.stopped:%Y-%m-%d %H:%M:%S}",
            f"{backup.size / 1e6:.1f} MB", f"{backup.repo_size / 1e6:.1f} MB",
            f"{backup.wal_start}..{backup.wal_stop}",
        )  # fmt: skip
    console.print(table)
    console.print(f"WAL archived: {state.wal_min or '-'} .. {state.wal_max or '-'}")


def recover_command(
    to_time: str = typer.Option(..., "--to-time", help="ISO 8601 with Z or an offset"),
    data_dir: Path = typer.Option(..., "--data-dir", help="a new (empty) data directory"),
) -> None:
    """Restore into a new data directory, recovered to that moment; the running cluster is
    left untouched."""
    settings = get_settings()
    with friendly_errors():
        target = pitr.parse_target(to_time)
    with database(settings) as urls, progress_bars() as bars:
        backrest = backrest_of(settings, urls)
        result = run(lambda: pitr.recover(backrest, target, data_dir, bars))
        if backrest.cluster is not None:
            pitr.copy_credentials(backrest.cluster, result.data_dir)
    console.print(
        f"[green]restored[/] backup {result.backup.label} into {result.data_dir}; on its first "
        f"start it replays WAL to {result.target.isoformat()} and opens (WAL archiving off)."
    )
    console.print(
        f"start it beside the live one: PGDATA_DIR={result.data_dir} pe-portal db status"
        if backrest.cluster is not None
        else f"start it: pg_ctl start -D {result.data_dir} -o '-p <a free port>'"
    )


def verify_command() -> None:
    """Check the repository (pgBackRest verify) and that WAL since the newest backup is whole."""
    settings = get_settings()
    with database(settings) as urls, friendly_errors(), progress_bars() as bars:
        result = physical.verify(backrest_of(settings, urls), bars)
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]✗[/] {problem}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"[green]repository verified[/]: {result.backups} backup(s); WAL {result.wal_checked} "
        "complete."
    )
