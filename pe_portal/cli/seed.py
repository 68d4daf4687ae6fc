"""`pe-portal db seed-demo`: demo accounts and a year of audit trail, for development and bench."""

from __future__ import annotations

import time

import typer

from pe_portal.cli.common import console, database, fail, run
from pe_portal.cli.db import app as db_app
from pe_portal.cli.progress import progress_bars
from pe_portal.config import get_settings
from pe_portal.ops.seed import seed_demo


@db_app.command(name="seed-demo")
def seed_demo_command(
    users: int = typer.Option(1000, "--users", min=0, help="demo accounts to add"),
    audit_rows: int = typer.Option(
        100_000, "--audit-rows", min=0, help="audit rows, spread over the users and --audit-months"
    ),
    expired_sessions: int = typer.Option(
        0, "--expired-sessions", min=0, help="expired sessions (what `sessions cleanup` removes)"
    ),
    audit_months: int = typer.Option(
        12, "--audit-months", min=1, max=240, help="months back the audit rows spread over"
    ),
) -> None:
    """Add demo users (with profiles), audit rows and expired sessions with COPY (not in production)."""
    settings = get_settings()
    if settings.env == "production":
        fail("`db seed-demo` writes demo accounts and is refused when ENV=production.")
    started = time.monotonic()
    with database(settings) as urls, progress_bars() as bars:
        result = run(
            lambda: seed_demo(
                settings, urls.migration, users=users, audit_rows=audit_rows,
                expired_sessions=expired_sessions, audit_months=audit_months, progress=bars,
            )
        )  # fmt: skip
    elapsed = time.monotonic() - started
    console.print(
        f"[green]seeded[/] {result.users:,} users, {result.audit_rows:,} audit rows, "
        f"{result.expired_sessions:,} expired sessions in {elapsed:.1f} s"
    )
    if result.first_email:
        console.print(f"accounts: {result.first_email} … {result.last_email}")
        console.print(f"password of every demo account: {result.password}")
