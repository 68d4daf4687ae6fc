"""The `pe-portal` command: one Typer app with a group per concern."""

from __future__ import annotations

import typer

from pe_portal.cli import audit, db, keys, mail, ops, users
from pe_portal.cli import seed as _seed  # noqa: F401 - registers `db seed-demo`
from pe_portal.cli.serve import serve
from pe_portal.cli.studio import studio

app = typer.Typer(
    help="pe-portal: Investor Portal accounts, sessions and audit trail.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(studio)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.add_typer(mail.app, name="mail")
app.add_typer(audit.app, name="audit")
ops.register(app)


def run() -> None:
    app()
