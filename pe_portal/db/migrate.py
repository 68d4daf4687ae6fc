"""Alembic, driven from code: the CLI and the tests call these, never `alembic` by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"


def compare_server_default(
    context: MigrationContext,
    inspected_column: object,
    metadata_column: object,
    inspected_default: str | None,
    metadata_default: object,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic compares defaults by evaluating both; a random default never equals itself."""
    if inspected_default and rendered_metadata_default and "gen_random_uuid" in inspected_default:
        return "gen_random_uuid" not in rendered_metadata_default
    return None  # let Alembic decide


# The monthly partitions of audit_logs (and its DEFAULT partition) are made at run time by
# audit_ensure_partition(), not by migrations: autogenerate must not see them as drift.
_PARTITION = re.compile(r"^audit_logs_(y\d{4}m\d{2}|default)$")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's filter: everything but the audit partitions and the indexes on them."""
    if type_ == "table" and name is not None and _PARTITION.match(name):
        return False
    table = getattr(obj, "table", None)
    return not (type_ == "index" and table is not None and _PARTITION.match(table.name))


def alembic_config(url: str) -> Config:
    """A Config pointing at our migrations, connecting with `url` (the owner role)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head", progress: Any = None) -> None:
    """Apply migrations; a long one (copying audit_logs into partitions) reports to `progress`
    (a `pe_portal.progress.Progress`, which sits above this layer)."""
    config = alembic_config(url)
    config.attributes["progress"] = progress
    command.upgrade(config, revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def new_revision(url: str, name: str) -> Path:
    """Autogenerate a dated migration from the models (read it before applying)."""
    revision_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    script = command.revision(
        alembic_config(url), message=name, autogenerate=True, rev_id=revision_id
    )
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic produced no single revision")
    return Path(script.path)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def pending_revisions(current: str | None) -> list[str]:
    """Revisions between `current` and head, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    upper = script.get_current_head()
    if upper is None or current == upper:
        return []
    revisions = script.iterate_revisions(upper, current)
    return [rev.revision for rev in reversed(list(revisions))]
