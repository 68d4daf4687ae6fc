"""`pe-portal keys rotate`: a new access-token signing key; older ones verify until tokens expire."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.table import Table

from pe_portal.cli.common import console, friendly_errors
from pe_portal.clock import utcnow
from pe_portal.config import get_settings
from pe_portal.security.keys import KeyRing

app = typer.Typer(help="Signing keys of the access tokens (JWT_KEYS_DIR).", no_args_is_help=True)


@app.command()
def rotate() -> None:
    """Add a new signing key; prune keys superseded longer than ACCESS_TOKEN_TTL ago."""
    settings = get_settings()
    ring = KeyRing(settings.jwt_keys_dir)
    with friendly_errors():
        new = ring.rotate(utcnow(), retire_after_seconds=settings.access_token_ttl)
        remaining = ring.all_keys()
    console.print(f"new signing key: {new.kid}", highlight=False)
    table = Table("kid", "created", "role", title=f"keys in {settings.jwt_keys_dir}")
    ttl = timedelta(seconds=settings.access_token_ttl)
    for key, successor in zip(remaining, [*remaining[1:], None], strict=True):
        role = (
            "signs new tokens"
            if successor is None
            else f"verifies until {successor.created + ttl:%Y-%m-%d %H:%M:%S} UTC"
        )
        table.add_row(key.kid, f"{key.created:%Y-%m-%d %H:%M:%S} UTC", role)
    console.print(table)
    console.print("running servers pick the new key up on their next request", highlight=False)
