"""`pe-portal users …` and `pe-portal keys rotate`, run as an operator runs them."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.security.keys import KeyRing
from tests.auth.helpers import audit_rows, scalar
from tests.factories import PASSWORD, unique_email


@pytest.fixture
def cli(settings: Settings, tmp_path: Path, committed: None) -> Cli:
    return Cli(settings, tmp_path)


class Cli:
    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")},
            "DATABASE_URL": settings.database_url or "",
            "DATABASE_MIGRATION_URL": settings.database_migration_url or "",
            "JWT_KEYS_DIR": str(tmp_path / "keys"),
            "COLUMNS": "200",
        }
        self.cwd = tmp_path
        self.keys_dir = tmp_path / "keys"

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "pe_portal.cli", *args],
            input=stdin, capture_output=True, text=True, env=self.env, cwd=self.cwd,
            check=False, timeout=120,
        )  # fmt: skip
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def create(self, email: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self(
            "users", "create", "--email", email, "--password-stdin", *extra, stdin=PASSWORD + "\n"
        )


def _failed_with_one_line(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_create_list_and_sign_in(cli: Cli, engine: AsyncEngine) -> None:
    email = unique_email("operator")
    created = cli.create(email, "--first-name", "Ada", "--last-name", "Lovelace")
    assert created.returncode == 0, created.stderr
    assert f"created {email}" in created.stdout
    listed = cli("users", "list")
    assert listed.returncode == 0
    assert email in listed.stdout
    assert "Ada Lovelace" in listed.stdout
    async with engine.connect() as db:
        stored = await scalar(db, "SELECT password FROM users WHERE email = :e", e=email)
        [row] = await audit_rows(db, "REGISTER")
    assert stored.startswith("$2b$12$")
    assert row["details"] == {"actor": f"cli:{getpass.getuser()}"}
    assert PASSWORD not in created.stdout + listed.stdout


async def test_deactivate_activate_delete_by_email_or_id(cli: Cli, engine: AsyncEngine) -> None:
    email = unique_email("operator")
    cli.create(email)
    async with engine.connect() as db:
        user_id = await scalar(db, "SELECT id FROM users WHERE email = :e", e=email)
    assert cli("users", "deactivate", email.upper()).returncode == 0
    assert cli("users", "activate", user_id).returncode == 0
    deleted = cli("users", "delete", email, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    async with engine.connect() as db:
        assert await scalar(db, "SELECT count(*) FROM users") == 0
        [row] = await audit_rows(db, "USER_DELETED")
    assert row["details"]["deletedUserId"] == user_id
    assert row["details"]["actor"].startswith("cli:")


def test_failures_are_one_readable_line(cli: Cli) -> None:
    email = unique_email("operator")
    cli.create(email)
    _failed_with_one_line(cli.create(email), "already exists")
    _failed_with_one_line(cli("users", "deactivate", "nobody@example.com"), "No user")
    _failed_with_one_line(cli("users", "delete", "no-such-id", "--yes"), "No such user")
    weak = cli("users", "create", "--email", unique_email(), "--password-stdin", stdin="short\n")
    _failed_with_one_line(weak, "at least 12 characters")
    _failed_with_one_line(cli.create("not-an-email"), "not valid")


def test_keys_rotate_keeps_the_previous_key_and_prunes_retired_ones(cli: Cli) -> None:
    ring = KeyRing(cli.keys_dir)
    retired = ring.rotate(utcnow() - timedelta(hours=2))  # superseded an hour ago: past the TTL
    previous = ring.rotate(utcnow() - timedelta(hours=1))  # superseded by the new key: kept
    result = cli("keys", "rotate")
    assert result.returncode == 0, result.stderr
    kids = [key.kid for key in ring.all_keys()]
    assert kids[0] == previous.kid
    assert len(kids) == 2
    assert retired.kid not in result.stdout
    assert f"new signing key: {kids[1]}" in result.stdout
    assert previous.kid in result.stdout
    assert "signs new tokens" in result.stdout
