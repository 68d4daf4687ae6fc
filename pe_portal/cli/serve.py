"""`pe-portal serve`: the API on uvicorn, over DATABASE_URL or the embedded cluster."""

from __future__ import annotations

import os

import typer
import uvicorn

from pe_portal import metrics
from pe_portal.cli.common import console, database, fail, port_is_free, run, uvicorn_options
from pe_portal.config import get_settings
from pe_portal.db.runtime import deploy


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, help="port to listen on"),
    workers: int = typer.Option(1, min=1, max=64, help="worker processes"),
    migrate: bool = typer.Option(True, help="apply pending migrations before serving"),
) -> None:
    """Serve the API (Ctrl-C stops it, and the embedded cluster with it)."""
    settings = get_settings()
    if not port_is_free(host, port):
        fail(f"{host}:{port} is already in use. Stop what runs there or choose --port.")
    with database(settings) as urls, metrics.shared_between_workers(workers):
        if migrate:
            run(lambda: deploy(settings, urls))
        # Worker processes read their settings from the environment.
        os.environ["DATABASE_URL"] = urls.app
        os.environ["DATABASE_MIGRATION_URL"] = urls.migration
        os.environ["WEB_CONCURRENCY"] = str(workers)  # each sizes its hashing for its part
        get_settings.cache_clear()
        console.print(f"serving on http://{host}:{port} (docs at /docs); Ctrl-C stops")
        uvicorn.run(
            "pe_portal.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **uvicorn_options(settings),
        )
