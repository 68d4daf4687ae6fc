"""`pe-portal keys rotate`: a new access-token signing key; older ones verify until tokens expire.
`pe-portal keys rotate-mfa`: every TOTP seed re-encrypted under MFA_ENCRYPTION_KEY's first key."""

from __future__ import annotations

import getpass
from datetime import timedelta

import typer
from rich.table import Table

from pe_portal.cli.common import console, database, friendly_errors, run, unit_of_work
from pe_portal.clock import utcnow
from pe_portal.config import get_settings
from pe_portal.context import RequestContext
from pe_portal.mfa import service as mfa
from pe_portal.security.keys import KeyRing
from pe_portal.security.secretbox import new_key, secret_box

_OPERATOR = RequestContext(actor=f"cli:{getpass.getuser()}")

app = typer.Typer(
    help="Signing keys of the access tokens (JWT_KEYS_DIR), the MFA_ENCRYPTION_KEY.",
    no_args_is_help=True,
)


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


@app.command("rotate-mfa")
def rotate_mfa() -> None:
    """Re-encrypt every TOTP seed under MFA_ENCRYPTION_KEY's first key (put the new key first,
    keep the old ones after it until this has run, then drop them)."""
    settings = get_settings()
    with friendly_errors(), database(settings) as urls:

        async def work() -> int:
            async with unit_of_work(settings, urls.app) as session:
                return await mfa.rotate_keys(session, settings=settings, context=_OPERATOR)

        count = run(work)
    console.print(f"re-encrypted {count} TOTP secret(s) under key {secret_box(settings).current}")


@app.command("new-mfa-key")
def new_mfa_key(kid: str = typer.Argument("k1", help="the new key's id")) -> None:
    """Print a fresh MFA_ENCRYPTION_KEY entry (`kid:base64url(32 random bytes)`)."""
    console.print(new_key(kid), highlight=False)
