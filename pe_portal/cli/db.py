"""`pe-portal db …`: migrations and schema state."""

from __future__ import annotations

import asyncio

import typer

from pe_portal.cli.common import console, database, fail, run
from pe_portal.cli.progress import progress_bars
from pe_portal.config import get_settings
from pe_portal.db import migrate
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import deploy as deploy_database
from pe_portal.db.runtime import grant_app_role

app = typer.Typer(help="Migrations and database state.", no_args_is_help=True)


@app.command()
def deploy() -> None:
    """Apply pending migrations (as the owner role) and grant the app role its rights."""
    settings = get_settings()
    with database(settings) as urls, progress_bars() as bars:
        run(lambda: deploy_database(settings, urls, bars))
    console.print("[green]database is at head[/]", migrate.head_revision())


@app.command(name="migrate")
def migrate_command(
    name: str = typer.Option(..., "--name", help="what the migration does, e.g. add_funds"),
) -> None:
    """Create a dated migration from the models, then apply it (development)."""
    settings = get_settings()
    if settings.env == "production":
        fail("`db migrate` creates migrations and is for development; use `db deploy` here.")
    with database(settings) as urls:
        run(lambda: deploy_database(settings, urls))
        path = migrate.new_revision(urls.migration, name)
        console.print(f"created {path} — read it, then it is applied:")
        run(lambda: deploy_database(settings, urls))


@app.command()
def status() -> None:
    """Show the current revision, the head, and what is pending."""
    settings = get_settings()
    with database(settings) as urls:

        async def current() -> str | None:
            engine = create_engine(settings, urls.app, pool_size=1)
            try:
                return await migrate.current_revision(engine)
            finally:
                await engine.dispose()

        revision = run(current)
    pending = migrate.pending_revisions(revision)
    console.print(
        f"database: {'embedded (./var/pgdata)' if not settings.database_url else 'DATABASE_URL'}"
    )
    console.print(f"current:  {revision or '(empty: never migrated)'}")
    console.print(f"head:     {migrate.head_revision()}")
    console.print("pending:  " + (", ".join(pending) if pending else "none"))


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Drop everything and migrate again (development only; refused when ENV=production)."""
    settings = get_settings()
    if settings.env == "production":
        fail("`db reset` destroys every row and is refused when ENV=production.")
    if not yes and not typer.confirm("Drop every table and all data, then migrate again?"):
        raise typer.Exit(1)
    with database(settings) as urls:
        run(lambda: asyncio.to_thread(migrate.downgrade, urls.migration, "base"))
        run(lambda: deploy_database(settings, urls))
        run(lambda: grant_app_role(settings, urls))
    console.print("[green]database reset to an empty schema at head[/]")
