"""`pe-portal audit`: partitions, sealing, verification, archiving (DESIGN "Audit trail over
years"; the runbook is docs/operations.md "Audit trail")."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import archiving, partitions, seal_keys, sealing, verification
from pe_portal.cli.common import console, database, err_console, fail, in_transaction, run
from pe_portal.cli.progress import progress_bars
from pe_portal.config import get_settings
from pe_portal.context import RequestContext
from pe_portal.db.engine import create_engine, create_sessionmaker
from pe_portal.errors import InvalidInput

app = typer.Typer(
    help="The audit trail: partitions, seals, verification, archives.", no_args_is_help=True
)
checkpoints_app = typer.Typer(help="The sealed checkpoints.", no_args_is_help=True)
app.add_typer(checkpoints_app, name="checkpoints")
_OPERATOR = RequestContext(actor=f"cli:{getpass.getuser()}")


def _month(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        fail(f"{option} takes a month as YYYY-MM, not {value!r}.")


@app.command(name="partitions")
def partitions_command(
    ensure: bool = typer.Option(False, "--ensure", help="create the partitions missing ahead"),
) -> None:
    """List the monthly partitions (with --ensure: create this month's and three ahead first)."""

    async def work(session: AsyncSession) -> list[partitions.Partition]:
        if ensure:
            for name in await partitions.ensure(session):
                console.print(f"created {name}", highlight=False)
        return await partitions.listing(session)

    table = Table("partition", "range", "rows (estimate)", title="audit_logs partitions")
    for part in in_transaction(work):
        table.add_row(part.name, part.bounds, f"{part.rows:,}")
    console.print(table)


def _keys(create: bool) -> seal_keys.SealKeys:
    settings = get_settings()
    try:
        return seal_keys.load(settings.audit_seal_key_dir, create=create)
    except OSError as error:
        fail(f"Cannot use AUDIT_SEAL_KEY_DIR {settings.audit_seal_key_dir}: {error.strerror}.")
    except InvalidInput as error:
        fail(error.message)


@app.command()
def seal() -> None:
    """Seal everything committed so far into signed checkpoints (AUDIT_SEAL_KEY_DIR)."""
    settings = get_settings()
    keys = _keys(create=True)
    with database(settings) as urls, progress_bars() as bars:

        async def body() -> sealing.SealReport:
            engine = create_engine(settings, urls.app, pool_size=2)
            try:
                return await sealing.seal(create_sessionmaker(engine), keys, bars)
            finally:
                await engine.dispose()

        report = run(body)
    busy = " (another sealer holds the chain; it seals the rest)" if report.busy else ""
    console.print(f"sealed {report.rows} rows in {report.checkpoints} checkpoints{busy}")


@app.command()
def verify(
    since: str | None = typer.Option(None, "--from", help="first month, YYYY-MM"),
    until: str | None = typer.Option(None, "--to", help="last month, YYYY-MM"),
    archives: Path | None = typer.Option(None, "--archives", help="default: AUDIT_ARCHIVE_DIR"),
) -> None:
    """Check the checkpoint chain and every row against it; exit 1 naming what is wrong."""
    settings = get_settings()
    first, last = _month(since, "--from"), _month(until, "--to")
    keys = _keys(create=False)

    async def work(session: AsyncSession) -> verification.VerifyReport:
        with progress_bars() as bars:
            return await verification.verify(
                session, keys, archive_dir=archives or settings.audit_archive_dir,
                since=first, until=last, progress=bars,
            )  # fmt: skip

    report = in_transaction(work)
    console.print(
        f"{report.checkpoints} checkpoints, {report.months} months, {report.rows:,} rows read; "
        f"{report.pending} not sealed yet, {report.removed} removed with a trace"
    )
    for problem in report.problems[:50]:
        err_console.print(f"[bold red]tampered:[/] {problem}", highlight=False, soft_wrap=True)
    if report.problems:
        more = len(report.problems) - 50
        fail(f"{len(report.problems)} problems" + (f" ({more} not shown)" if more > 0 else ""))
    console.print("[green]the audit trail verifies[/]")


@app.command()
def archive(
    before: str | None = typer.Option(None, "--before", help="archive months before YYYY-MM"),
    to: Path | None = typer.Option(None, "--to", help="directory; default AUDIT_ARCHIVE_DIR"),
) -> None:
    """Write each month before --before (default: past AUDIT_RETENTION_MONTHS) to a verified
    archive file, then detach and drop its partition."""
    settings = get_settings()
    directory = to or settings.audit_archive_dir
    if directory is None:
        fail("Say where the archives go: --to DIR or AUDIT_ARCHIVE_DIR.")
    cutoff = _month(before, "--before")
    if cutoff is None and settings.audit_retention_months == 0:
        fail("Say which months: --before YYYY-MM, or set AUDIT_RETENTION_MONTHS.")
    keys = _keys(create=True)
    with database(settings) as urls, progress_bars() as bars:

        async def body() -> list[archiving.Archived]:
            engine = create_engine(settings, urls.migration, pool_size=2)
            try:
                async with create_sessionmaker(engine)() as session:
                    listed = await partitions.listing(session)
                if cutoff is None:
                    due = partitions.due_months(listed, settings.audit_retention_months)
                else:
                    due = [m for m in partitions.due_months(listed, 0) if m < cutoff]
                done = []
                for month in due:
                    done.append(
                        await archiving.archive_month(
                            engine, month, directory, keys, _OPERATOR, bars
                        )
                    )
                return done
            finally:
                await engine.dispose()

        done = run(body)
    for item in done:
        console.print(f"{item.month:%Y-%m}: {item.rows:,} rows → {item.path}", highlight=False)
    if not done:
        console.print("nothing to archive")


@app.command(name="restore-archive")
def restore_archive(
    file: Path = typer.Argument(..., help="an audit_logs-YYYY-MM.jsonl.gz"),
) -> None:
    """Bring an archived month back into the database (checked against the seals first)."""
    settings = get_settings()
    if not file.is_file():
        fail(f"{file} is not a file.")
    with database(settings) as urls, progress_bars() as bars:

        async def body() -> archiving.Archived:
            engine = create_engine(settings, urls.migration, pool_size=2)
            try:
                return await archiving.restore(engine, file, _OPERATOR, bars)
            finally:
                await engine.dispose()

        restored = run(body)
    console.print(f"{restored.month:%Y-%m}: {restored.rows:,} rows restored", highlight=False)


@checkpoints_app.command(name="export")
def export_checkpoints(
    output: Path = typer.Option(Path("-"), "--output", "-o", help="file; - for stdout"),
) -> None:
    """Every checkpoint as JSON Lines (with the seal's public keys first), to keep elsewhere."""
    keys = _keys(create=False)

    async def work(session: AsyncSession) -> list[str]:
        return await sealing.export_lines(session, keys)

    text = "\n".join(in_transaction(work)) + "\n"
    if str(output) == "-":
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text)
        except OSError as error:
            fail(f"Cannot write {output}: {error.strerror}.")
        console.print(f"checkpoints written to {output}")
