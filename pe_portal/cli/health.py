"""`db stats` and `doctor`: the database's health as readable tables (or JSON)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from pe_portal.cli.common import console, database, run
from pe_portal.config import get_settings
from pe_portal.ops.checks import Check, Status
from pe_portal.ops.doctor import diagnose
from pe_portal.ops.stats import DatabaseStats, collect

_MARKS = {
    Status.OK: "[green]✓ ok[/]",
    Status.WARN: "[yellow]! warn[/]",
    Status.FAIL: "[red]✗ fail[/]",
    Status.SKIPPED: "[dim]- skipped[/]",
}


def _size(value: Any) -> str:
    amount = float(value or 0)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1024:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    return "" if value is None else str(_plain(value))


def stats_command(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    slow: int = typer.Option(10, min=1, max=100, help="how many slow statements to list"),
) -> None:
    """Table and index sizes, index usage, connections, slowest statements, lock waits."""
    settings = get_settings()
    with database(settings) as urls:
        stats = run(lambda: collect(settings, urls.migration, slow_limit=slow))
    if as_json:
        typer.echo(json.dumps(stats.as_json(), default=_plain, indent=2))
        return
    _print_stats(stats)


def _print_stats(stats: DatabaseStats) -> None:
    tables = Table("table", "total", "data", "indexes", "live rows", "dead rows", title="Tables")
    for row in stats.tables:
        sizes = (_size(row[key]) for key in ("total_bytes", "table_bytes", "index_bytes"))
        tables.add_row(row["table"], *sizes, _cell(row["live_rows"]), _cell(row["dead_rows"]))
    indexes = Table("table", "index", "scans", "tuples read", "tuples fetched", "size")
    indexes.title = "Index usage (0 scans: unused so far)"
    for row in stats.indexes:
        counts = (_cell(row[key]) for key in ("scans", "tuples_read", "tuples_fetched"))
        indexes.add_row(row["table"], row["index"], *counts, _size(row["bytes"]))
    conn = stats.connections
    usable = conn["max_connections"] - conn["reserved"]
    connections = Table("total", "active", "idle", "idle in tx", "this db", "usable max")
    connections.title = "Connections"
    connections.add_row(
        *(_cell(conn[key]) for key in ("total", "active", "idle", "idle_in_transaction")),
        _cell(conn["this_database"]),
        str(usable),
    )
    for table in (tables, indexes, connections, _statements(stats), _locks(stats)):
        console.print(table)
    for note in stats.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)


def _statements(stats: DatabaseStats) -> Table:
    table = Table("mean ms", "calls", "total ms", "rows", "query", title="Slowest statements")
    for row in stats.statements:
        numbers = (_cell(row[key]) for key in ("mean_ms", "calls", "total_ms", "rows"))
        table.add_row(*numbers, row["query"])
    return table


def _locks(stats: DatabaseStats) -> Table:
    table = Table("blocked pid", "user", "waiting s", "blocking pid", "user", "blocked query")
    table.title = "Lock waits" + ("" if stats.locks else " (none)")
    for row in stats.locks:
        table.add_row(
            _cell(row["blocked_pid"]),
            _cell(row["blocked_user"]),
            _cell(row["waiting_seconds"]),
            _cell(row["blocking_pid"]),
            _cell(row["blocking_user"]),
            _cell(row["blocked_query"]),
        )
    return table


def doctor_command(
    workers: int = typer.Option(1, min=1, max=64, help="server worker processes you run"),
) -> None:
    """Check the deployment: connectivity, version, migrations, durability, TLS, grants, pool."""
    settings = get_settings()
    with database(settings) as urls:
        checks = run(lambda: diagnose(settings, urls, workers=workers))
    _print_checks(checks)
    if any(check.status is Status.FAIL for check in checks):
        raise typer.Exit(1)


def _print_checks(checks: list[Check]) -> None:
    table = Table("check", "result", "found", title="pe-portal doctor")
    for check in checks:
        table.add_row(check.name, _MARKS[check.status], check.detail)
    console.print(table)
    for check in checks:
        if check.fix and check.status in (Status.FAIL, Status.WARN):
            console.print(f"[bold]{check.name}[/]: {check.fix}", soft_wrap=True)
    failed = sum(check.status is Status.FAIL for check in checks)
    console.print(f"[red]{failed} check(s) failed[/]" if failed else "[green]all checks passed[/]")
