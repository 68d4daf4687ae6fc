"""`pe-portal users …`: accounts for operators, through the same services (and audit) as HTTP."""

from __future__ import annotations

import getpass
import sys

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.cli.common import console, in_transaction
from pe_portal.config import get_settings
from pe_portal.context import RequestContext
from pe_portal.mfa import service as mfa
from pe_portal.users import service as users
from pe_portal.users.models import User

app = typer.Typer(
    help="User accounts (create, list, activate, deactivate, delete, reset-mfa).",
    no_args_is_help=True,
)

UserArgument = typer.Argument(..., help="the account's e-mail or id")


def _context() -> RequestContext:
    """CLI events are audited with the operator's OS user as the actor."""
    return RequestContext(actor=f"cli:{getpass.getuser()}")


async def _find(session: AsyncSession, identifier: str) -> User:
    if "@" in identifier:
        return await users.find_by_email(session, email=identifier)
    return await users.get(session, user_id=identifier)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")  # only the line end: passwords are not trimmed
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command()
def create(
    email: str = typer.Option(..., "--email", help="the account's e-mail"),
    first_name: str | None = typer.Option(None, "--first-name"),
    last_name: str | None = typer.Option(None, "--last-name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from the first line of stdin"
    ),
    verified: bool = typer.Option(False, "--verified", help="mark the e-mail as verified"),
) -> None:
    """Create an account (and its profile); the password is asked for, never an argument."""
    password = _read_password(password_stdin)
    settings = get_settings()
    user = in_transaction(
        lambda session: users.create_user(
            session, email=email, password=password, first_name=first_name,
            last_name=last_name, context=_context(), settings=settings, verified=verified,
        )
    )  # fmt: skip
    console.print(f"created {user.email} (id {user.id})", highlight=False)


@app.command(name="list")
def list_command(
    limit: int = typer.Option(100, min=1, max=10_000, help="rows to show"),
    offset: int = typer.Option(0, min=0, help="rows to skip"),
) -> None:
    """List accounts, oldest first."""
    rows = in_transaction(lambda session: users.list_users(session, limit=limit, offset=offset))
    table = Table("id", "e-mail", "name", "active", "verified", "last login", "created")
    for user in rows:
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        table.add_row(
            user.id, user.email, name, _yes_no(user.is_active), _yes_no(user.is_verified),
            _when(user.last_login), _when(user.created_at),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} account(s)", highlight=False)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def _set_active(identifier: str, active: bool) -> User:
    async def work(session: AsyncSession) -> User:
        user = await _find(session, identifier)
        return await users.set_active(session, user_id=user.id, active=active, context=_context())

    return in_transaction(work)


@app.command()
def deactivate(user: str = UserArgument) -> None:
    """Deactivate an account: it cannot sign in, and every session ends at once."""
    account = _set_active(user, active=False)
    console.print(f"deactivated {account.email}; its sessions are revoked", highlight=False)


@app.command()
def activate(user: str = UserArgument) -> None:
    """Activate an account again."""
    account = _set_active(user, active=True)
    console.print(f"activated {account.email}", highlight=False)


@app.command()
def delete(
    user: str = UserArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Delete an account with its profile, sessions and audit rows (the deletion is recorded)."""
    if not yes:
        typer.confirm(f"Delete {user} and everything it owns?", abort=True)

    async def work(session: AsyncSession) -> str:
        account = await _find(session, user)
        await users.delete_user(session, user_id=account.id, context=_context())
        return account.email

    email = in_transaction(work)
    console.print(f"deleted {email}", highlight=False)


@app.command("reset-mfa")
def reset_mfa(
    user: str = UserArgument,
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Remove every second factor and recovery code of an account (a lost device); the user is
    mailed and each removal audited with the operator."""
    if not yes:
        typer.confirm(f"Remove every second factor of {user}?", abort=True)

    async def work(session: AsyncSession) -> tuple[str, int]:
        account = await _find(session, user)
        return account.email, await mfa.reset(session, user=account, context=_context())

    email, count = in_transaction(work)
    console.print(f"removed {count} factor(s) of {email}; it signs in with its password alone")
