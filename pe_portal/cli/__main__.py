"""`python -m pe_portal.cli` is the `pe-portal` command."""

from pe_portal.cli.main import run

run()
