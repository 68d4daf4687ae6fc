"""`pe-portal mail status|retry`: the outbox for operators (never a message body)."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.cli.common import console, fail, in_transaction
from pe_portal.cli.ops import guarded
from pe_portal.mail import service as mail
from pe_portal.mail.service import FailedMessage, Summary

app = typer.Typer(help="The mail outbox: what waits, what failed.", no_args_is_help=True)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s"


@app.command()
@guarded
def status(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    limit: int = typer.Option(20, min=1, max=1000, help="how many failed messages to list"),
) -> None:
    """Pending and failed counts, the oldest pending message's age, the latest failures."""

    async def read(session: AsyncSession) -> tuple[Summary, list[FailedMessage]]:
        return await mail.summary(session), await mail.failed(session, limit=limit)

    summary, failed = in_transaction(read)
    if as_json:
        rows = [{**asdict(row), "finished_at": _iso(row)} for row in failed]
        typer.echo(json.dumps({**asdict(summary), "failed_messages": rows}, indent=2))
        return
    console.print(
        f"pending {summary.pending} · failed {summary.failed} · sent (kept) {summary.sent} · "
        f"oldest pending {_age(summary.oldest_pending_seconds)}"
    )
    if failed:
        table = Table("id", "template", "to", "attempts", "failed at (UTC)", "last error")
        table.title = "Failed messages (`pe-portal mail retry ID|--failed`)"
        for row in failed:
            when = f"{row.finished_at:%Y-%m-%d %H:%M:%S}" if row.finished_at else ""
            table.add_row(row.id, row.template, f"@{row.recipient_domain}", str(row.attempts),
                          when, row.last_error or "")  # fmt: skip
        console.print(table)


def _iso(row: FailedMessage) -> str | None:
    return row.finished_at.isoformat() if row.finished_at else None


@app.command()
@guarded
def retry(
    message_id: str | None = typer.Argument(None, help="the id shown by `pe-portal mail status`"),
    all_failed: bool = typer.Option(False, "--failed", help="every failed message"),
) -> None:
    """Hand failed messages back to the delivery workers, with a fresh count of attempts."""
    if (message_id is None) == (not all_failed):
        fail("give one message id, or --failed for every failed message (not both).")

    async def requeue(session: AsyncSession) -> int:
        if message_id is not None:
            await mail.requeue(session, message_id=message_id)
            return 1
        return await mail.requeue_all_failed(session)

    count = in_transaction(requeue)
    console.print(f"{count} message(s) queued again; the servers' delivery workers send them now.")
