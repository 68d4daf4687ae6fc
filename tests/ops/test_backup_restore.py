"""Backup → restore: identical data, revoked sessions, the audit trail still append-only, and
every bad input refused with a readable message and nothing restored."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pe_portal.config import Settings
from pe_portal.db.engine import create_engine
from pe_portal.db.runtime import DatabaseUrls
from pe_portal.errors import Conflict, InvalidInput
from pe_portal.ops import pgtools
from pe_portal.ops.backup import backup
from pe_portal.ops.manifest import TableDigest, file_digest, read_manifest, table_digests
from pe_portal.ops.pgtools import OperationFailed
from pe_portal.ops.restore import restore
from pe_portal.progress import NoProgress
from tests.ops.conftest import (
    DOWN,
    FreshDatabase,
    assert_no_traceback,
    run_cli,
    table_names,
)


async def digests(engine: AsyncEngine) -> dict[str, TableDigest]:
    async with engine.connect() as connection, connection.begin():
        return await table_digests(connection, NoProgress())


async def restore_into(
    settings: Settings, target: FreshDatabase, file: Path, **options: bool
) -> None:
    await restore(
        settings,
        target.urls.migration,
        file,
        force=options.get("force", False),
        revoke_sessions=options.get("revoke", True),
        progress=NoProgress(),
    )


@pytest.fixture
async def backup_file(
    settings: Settings, source_urls: DatabaseUrls, populated: dict[str, int], tmp_path: Path
) -> Path:
    result = await backup(settings, source_urls.migration, tmp_path / "b.tar", NoProgress())
    return result.path


async def test_cli_round_trip_restores_every_row_and_revokes_sessions(
    settings: Settings,
    source_urls: DatabaseUrls,
    owner_engine: AsyncEngine,
    populated: dict[str, int],
    fresh_database: FreshDatabase,
    tmp_path: Path,
) -> None:
    made = run_cli("db", "backup", str(tmp_path / "nightly.tar"), urls=source_urls, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    manifest = read_manifest(tmp_path / "nightly.tar")
    assert {name: manifest.tables[name].rows for name in populated} == populated
    assert manifest.tables == await digests(owner_engine)

    done = run_cli("db", "restore", "nightly.tar", urls=fresh_database.urls, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "keys rotate" in done.stdout
    restored = await digests(fresh_database.owner)
    unchanged = {name: digest for name, digest in manifest.tables.items() if name != "sessions"}
    assert {name: restored[name] for name in unchanged} == unchanged
    assert restored["sessions"].rows == manifest.tables["sessions"].rows
    async with fresh_database.owner.connect() as connection:
        live = await connection.scalar(text("SELECT count(*) FROM sessions WHERE NOT is_revoked"))
    assert live == 0  # refresh tokens issued before the backup never work again


async def test_keep_sessions_restores_an_identical_manifest(
    settings: Settings, backup_file: Path, fresh_database: FreshDatabase
) -> None:
    await restore_into(settings, fresh_database, backup_file, revoke=False)
    assert await digests(fresh_database.owner) == read_manifest(backup_file).tables


async def test_restored_audit_trail_stays_append_only(
    settings: Settings, backup_file: Path, fresh_database: FreshDatabase
) -> None:
    await restore_into(settings, fresh_database, backup_file)
    with pytest.raises(sa_exc.DBAPIError, match="append-only"):  # the trigger came with the dump
        async with fresh_database.owner.begin() as connection:
            await connection.execute(text("UPDATE audit_logs SET action = 'LOGOUT'"))
    app = create_engine(settings, fresh_database.urls.app, pool_size=1)
    try:
        async with app.connect() as connection:
            rights = (
                await connection.execute(
                    text(
                        "SELECT has_table_privilege('audit_logs', 'DELETE'),"
                        " has_table_privilege('audit_logs', 'UPDATE'),"
                        " has_table_privilege('audit_logs', 'INSERT'),"
                        " (SELECT count(*) FROM users)"
                    )
                )
            ).one()
    finally:
        await app.dispose()
    assert tuple(rights) == (False, False, True, 2)  # grants re-applied: it works, no more


async def test_a_non_empty_target_is_refused_without_force(
    settings: Settings, backup_file: Path, fresh_database: FreshDatabase
) -> None:
    await restore_into(settings, fresh_database, backup_file)
    async with fresh_database.owner.begin() as connection:
        await connection.execute(text("DELETE FROM sessions"))
    with pytest.raises(Conflict, match="not empty"):
        await restore_into(settings, fresh_database, backup_file)
    await restore_into(settings, fresh_database, backup_file, force=True, revoke=False)
    assert await digests(fresh_database.owner) == read_manifest(backup_file).tables


def repacked(
    backup_file: Path,
    tmp_path: Path,
    *,
    dump: Callable[[bytes], bytes] | None = None,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    reseal: bool = False,
) -> Path:
    """The backup unpacked, its dump and/or manifest changed, packed again; `reseal` makes the
    manifest vouch for the changed dump (as a forger would)."""
    unpacked = tmp_path / "unpacked"
    with tarfile.open(backup_file) as archive:
        archive.extractall(unpacked, filter="data")
    dump_path, manifest_path = unpacked / "database.dump", unpacked / "manifest.json"
    if dump is not None:
        dump_path.write_bytes(dump(dump_path.read_bytes()))
    content = json.loads(manifest_path.read_text())
    if manifest is not None:
        manifest(content)
    if reseal:
        content["dump"] = file_digest(dump_path).model_dump()
    manifest_path.write_text(json.dumps(content))
    result = tmp_path / "repacked.tar"
    with tarfile.open(result, "w") as archive:
        for path in (manifest_path, dump_path):
            archive.add(path, arcname=path.name)
    return result


def _three_users(manifest: dict[str, Any]) -> None:
    manifest["tables"]["users"]["rows"] = 3


def _damaged_midway(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


async def test_a_manifest_mismatch_rolls_the_whole_restore_back(
    settings: Settings, backup_file: Path, fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    tampered = repacked(backup_file, tmp_path, manifest=_three_users)
    with pytest.raises(OperationFailed, match=r"rolled back.*table users holds 2 rows"):
        await restore_into(settings, fresh_database, tampered)
    assert await table_names(fresh_database.owner) == []


def _bad_files(backup_file: Path, tmp_path: Path) -> list[str]:
    data = backup_file.read_bytes()
    (tmp_path / "truncated.tar").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "notes.txt").write_text("not a backup\n")
    return ["truncated.tar", "notes.txt"]


async def test_truncated_and_foreign_files_fail_cleanly(
    backup_file: Path, fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    for name in _bad_files(backup_file, tmp_path):
        result = run_cli("db", "restore", name, urls=fresh_database.urls, cwd=tmp_path)
        assert result.returncode == 1
        assert "not a usable pe-portal backup" in result.stderr
        assert "Nothing was restored" in result.stderr
        assert_no_traceback(result)
    assert await table_names(fresh_database.owner) == []


async def test_a_truncated_dump_inside_an_intact_tar_is_caught_by_its_checksum(
    settings: Settings, backup_file: Path, fresh_database: FreshDatabase, tmp_path: Path
) -> None:
    broken = repacked(backup_file, tmp_path, dump=lambda data: data[:-100])
    with pytest.raises(InvalidInput, match="does not match its manifest"):
        await restore_into(settings, fresh_database, broken)
    assert await table_names(fresh_database.owner) == []


def test_backup_to_an_unwritable_place_says_so(source_urls: DatabaseUrls, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = run_cli("db", "backup", "a-file/b.tar", urls=source_urls, cwd=tmp_path)
    assert result.returncode == 1
    assert "Cannot write a-file/b.tar: a-file is not a directory" in result.stderr
    assert_no_traceback(result)


def test_backup_never_overwrites(source_urls: DatabaseUrls, tmp_path: Path) -> None:
    (tmp_path / "kept.tar").write_text("an older backup")
    result = run_cli("db", "backup", "kept.tar", urls=source_urls, cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert (tmp_path / "kept.tar").read_text() == "an older backup"


def test_backup_with_the_database_down_says_so(tmp_path: Path) -> None:
    result = run_cli("db", "backup", urls=DOWN, cwd=tmp_path)
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr
    assert_no_traceback(result)
    assert list((tmp_path / "var" / "backups").iterdir()) == []  # no partial file left


def test_missing_client_programs_say_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OperationFailed, match="apt-get install postgresql-client-15"):
        pgtools.find_tools(15, system_root=tmp_path)


async def test_a_dump_that_breaks_midway_leaves_nothing_behind(
    settings: Settings,
    source_urls: DatabaseUrls,
    owner_engine: AsyncEngine,
    populated: dict[str, int],
    fresh_database: FreshDatabase,
    tmp_path: Path,
) -> None:
    # Enough rows that the dump is mostly data, so its middle is in a table's data: the table of
    # contents grows with every audit partition earlier tests left (3 000 rows were too few).
    async with owner_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO audit_logs (action, details) SELECT 'LOGIN',"
                " jsonb_build_object('n', g, 'r', md5(g::text)) FROM generate_series(1, 30000) g"
            )
        )
    made = await backup(settings, source_urls.migration, tmp_path / "big.tar", NoProgress())
    damaged = repacked(made.path, tmp_path, dump=_damaged_midway, reseal=True)
    with pytest.raises(
        OperationFailed, match=r"rolled back; the database is as it was\."
    ) as failed:
        await restore_into(settings, fresh_database, damaged)
    # pg_restore's reason depends on which bytes the damage hit (a compressed block it cannot
    # inflate, a block length it cannot allocate): the reason is quoted, its progress chatter not.
    reason = str(failed.value).split("as it was.", 1)[1]
    assert "(no message)" not in reason
    assert "processing data for table" not in reason
    assert await table_names(fresh_database.owner) == []
