"""`pe-portal studio`: the admin UI on uvicorn, behind a one-time access token."""

from __future__ import annotations

import ipaddress
import secrets
import sys

import typer
import uvicorn

from pe_portal.cli.common import console, database, fail, port_is_free, run, uvicorn_options
from pe_portal.config import Settings, get_settings
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.ops.health import readiness
from pe_portal.studio.app import BASE_URL, create_studio_app

# The studio reads a page at a time and changes one row per click: a few connections suffice.
STUDIO_POOL_SIZE = 4


async def _check_schema(settings: Settings, urls: DatabaseUrls) -> None:
    """The studio never migrates; it refuses a database that is not at the migrations' head."""
    engine = create_engine(settings, urls.app, pool_size=1)
    try:
        state = await readiness(engine)
    finally:
        await engine.dispose()
    if state.database != "ok":
        fail("Cannot reach the database. Check DATABASE_URL, or unset it for the embedded one.")
    if not state.ready:
        fail(
            f"The database schema is at {state.revision or 'nothing'}, not {state.head}. "
            "Run `pe-portal db deploy` first."
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def studio(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(5555, min=1, max=65535, help="port to listen on"),
) -> None:
    """Serve the admin UI; sign in with the access token it prints (Ctrl-C stops it)."""
    settings = get_settings()
    if not port_is_free(host, port):
        fail(f"{host}:{port} is already in use. Stop what runs there or choose --port.")
    with database(settings) as urls:
        run(lambda: _check_schema(settings, urls))
        token = secrets.token_urlsafe(24)
        engine = create_engine(settings, urls.app, pool_size=STUDIO_POOL_SIZE)
        app = create_studio_app(engine, access_token=token, own_engine=True)
        if not _is_loopback(host):
            console.print(
                f"[yellow]warning:[/] {host} is not loopback; the token travels unencrypted."
            )
        console.print(f"studio on http://{host}:{port}{BASE_URL}/ (Ctrl-C stops it)")
        # On its own line, unstyled, so that scripts (and the browser test) can read it.
        console.print(f"access token: {token}", highlight=False, soft_wrap=True)
        sys.stdout.flush()
        uvicorn.run(
            app,
            host=host,
            port=port,
            **uvicorn_options(settings),
        )
