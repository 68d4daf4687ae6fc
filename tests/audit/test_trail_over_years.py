"""The trail over years: partitions, immutability, sealing and verify, archive and restore."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pe_portal.audit import (
    archiving,
    partitions,
    seal_keys,
    sealing,
    verification,
)
from pe_portal.audit.repository import lifecycle
from pe_portal.config import Settings
from pe_portal.context import SYSTEM
from pe_portal.errors import Conflict, InvalidInput
from pe_portal.ops import retention
from pe_portal.users import service as users
from tests.conftest import PgCluster

pytestmark = pytest.mark.usefixtures("committed")

OLD_MONTH = date(2024, 3, 1)


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def keys(tmp_path: Path) -> seal_keys.SealKeys:
    return seal_keys.load(tmp_path / "seal", create=True)


async def _insert(factory: async_sessionmaker[AsyncSession], at: datetime, n: int = 3) -> list[str]:
    """n rows at `at` (an import with an old created_at), as the app role, committed."""
    ids = []
    async with factory() as session, session.begin():
        for i in range(n):
            row_id = f"row{at:%Y%m%d}x{i}"
            await session.execute(
                text(
                    "INSERT INTO audit_logs (id, action, details, ip_address, user_agent, created_at)"
                    " VALUES (:id, 'LOGIN', CAST(:d AS jsonb), '10.1.2.3', 'Mozilla/5.0 Firefox', :at)"
                ),
                {"id": row_id, "d": '{"word": "quarterly"}', "at": at.replace(tzinfo=None)},
            )
            ids.append(row_id)
    return ids


async def _verify(
    factory: async_sessionmaker[AsyncSession], keys: seal_keys.SealKeys, **kw: object
) -> verification.VerifyReport:
    async with factory() as session:
        return await verification.verify(session, keys, **kw)  # type: ignore[arg-type]


async def _partition_of(factory: async_sessionmaker[AsyncSession], row_id: str) -> str:
    async with factory() as session:
        result = await session.execute(
            text("SELECT tableoid::regclass::text FROM audit_logs WHERE id = :i"), {"i": row_id}
        )
        return str(result.scalar_one())


async def test_a_month_without_partition_takes_inserts_and_ensure_moves_them(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _insert(factory, datetime(2019, 5, 2, tzinfo=UTC))
    assert await _partition_of(factory, ids[0]) == "audit_logs_default"
    async with factory() as session, session.begin():
        assert await lifecycle.ensure_partition(session, date(2019, 5, 1)) == "audit_logs_y2019m05"
    assert await _partition_of(factory, ids[0]) == "audit_logs_y2019m05"
    async with factory() as session, session.begin():
        await partitions.ensure(session)
        names = [p.name for p in await partitions.listing(session)]
    today = datetime.now(UTC).date()
    ahead = date(today.year, today.month, 1)
    for _ in range(3):
        ahead = verification.next_month(ahead)
    assert archiving.partition_name(ahead) in names


async def test_every_partition_refuses_update_delete_and_truncate(
    factory: async_sessionmaker[AsyncSession], owner_engine: AsyncEngine
) -> None:
    await _insert(factory, datetime(2024, 3, 5, tzinfo=UTC))
    async with factory() as session, session.begin():
        await partitions.ensure(session)
        await lifecycle.ensure_partition(session, OLD_MONTH)
    for statement in (
        "UPDATE audit_logs_y2024m03 SET action = 'X'",
        "DELETE FROM audit_logs_y2024m03",
        "TRUNCATE audit_logs_y2024m03",
        "TRUNCATE audit_logs",
        "TRUNCATE audit_checkpoints",
    ):
        async with owner_engine.connect() as connection:
            with pytest.raises(DBAPIError, match="append-only"):
                await connection.execute(text(statement))
    async with factory() as session:
        granted = await session.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'audit_logs'::regclass AND ("
                "has_table_privilege(current_user, c.oid, 'UPDATE') OR "
                "has_table_privilege(current_user, c.oid, 'DELETE') OR "
                "has_table_privilege(current_user, c.oid, 'TRUNCATE'))"
            )
        )
        assert granted.all() == []


async def test_seal_then_verify_names_tampering_done_with_triggers_bypassed(
    factory: async_sessionmaker[AsyncSession], keys: seal_keys.SealKeys, test_db: PgCluster
) -> None:
    ids = await _insert(factory, datetime(2024, 3, 5, tzinfo=UTC), n=5)
    report = await sealing.seal(factory, keys)
    assert report.rows == 5
    late = await _insert(factory, datetime(2024, 3, 1, tzinfo=UTC), n=1)  # old time, sealed later
    assert (await _verify(factory, keys)).pending == 1
    await sealing.seal(factory, keys)
    clean = await _verify(factory, keys)
    assert clean.problems == []
    assert clean.rows == 6
    assert clean.pending == 0
    bypass = "SET session_replication_role = replica; "
    test_db.admin_sql(
        bypass + f"UPDATE audit_logs SET ip_address = '6.6.6.6' WHERE id = '{ids[1]}'"  # noqa: S608
    )
    test_db.admin_sql(bypass + f"DELETE FROM audit_logs WHERE id = '{ids[2]}'")  # noqa: S608
    test_db.admin_sql(
        bypass + "INSERT INTO audit_logs (id, action, created_at) "
        "VALUES ('slipped-in', 'LOGIN', '2024-03-07 00:00:00')"
    )
    problems = {
        (p.row_id, p.window is not None): p.what for p in (await _verify(factory, keys)).problems
    }
    assert problems[(ids[1], True)] == "changed since sealed"
    assert problems[(ids[2], True)] == "sealed but gone, with no removal trace"
    assert "bypassed" in problems[("slipped-in", False)]
    assert late[0] not in {row_id for row_id, _ in problems}


async def test_a_wrong_seal_key_fails_verification_clearly(
    factory: async_sessionmaker[AsyncSession], keys: seal_keys.SealKeys, tmp_path: Path
) -> None:
    await _insert(factory, datetime(2024, 3, 5, tzinfo=UTC))
    await sealing.seal(factory, keys)
    other = seal_keys.load(tmp_path / "other", create=True)
    report = await _verify(factory, other)
    assert report.problems
    assert "does not hold" in report.problems[0].what


async def test_user_deletion_cascade_keeps_the_trail_verifiable(
    factory: async_sessionmaker[AsyncSession], keys: seal_keys.SealKeys, test_db: PgCluster
) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            text("INSERT INTO users (id, email, password) VALUES ('u1', 'a@example.com', 'x')")
        )
        await session.execute(
            text(
                "INSERT INTO audit_logs (id, user_id, action) VALUES ('r1', 'u1', 'LOGIN'), "
                "('r2', 'u1', 'LOGOUT'), ('r3', NULL, 'LOGIN')"
            )
        )
    await sealing.seal(factory, keys)
    async with factory() as session, session.begin():
        await users.delete_user(session, user_id="u1", context=SYSTEM)
    report = await _verify(factory, keys)
    assert report.problems == []
    assert report.removed == 2
    await sealing.seal(factory, keys)  # the USER_DELETED row, which records the count
    assert (await _verify(factory, keys)).problems == []
    # A superuser removes a row and forges a trace for it: the counts no longer agree.
    test_db.admin_sql(
        "SET session_replication_role = replica; "
        "INSERT INTO audit_removals (row_id, created_at, user_id, reason) "
        "SELECT id, created_at, 'u1', 'user_deleted' FROM audit_logs WHERE id = 'r3'; "
        "DELETE FROM audit_logs WHERE id = 'r3'"
    )
    [problem] = (await _verify(factory, keys)).problems
    assert "lists 3 rows of deleted user u1" in problem.what


async def _sealed_old_month(
    factory: async_sessionmaker[AsyncSession], keys: seal_keys.SealKeys
) -> list[str]:
    ids = await _insert(factory, datetime(2024, 3, 5, tzinfo=UTC), n=4)
    async with factory() as session, session.begin():
        await lifecycle.ensure_partition(session, OLD_MONTH)
    await sealing.seal(factory, keys)
    return ids


async def test_archive_then_restore_a_month(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    tmp_path: Path,
) -> None:
    ids = await _sealed_old_month(factory, keys)
    done = await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    assert done.rows == 4
    with gzip.open(done.path, "rt") as handle:  # readable without pe-portal
        assert sorted(line.split('"id":"')[1].split('"')[0] for line in handle) == sorted(ids)
    async with factory() as session:
        count = await session.execute(
            text("SELECT count(*) FROM audit_logs WHERE id = ANY(:i)"), {"i": ids}
        )
        assert count.scalar_one() == 0
    await sealing.seal(factory, keys)  # the AUDIT_ARCHIVED row
    assert (await _verify(factory, keys)).problems != []  # without the file, rows are missing
    from_files = await _verify(factory, keys, archive_dir=tmp_path / "arch")
    assert from_files.problems == []
    assert from_files.rows >= 5
    async with owner_engine.begin() as connection:  # a database that never saw the month's agent
        await connection.execute(text("DELETE FROM audit_user_agents"))
    await archiving.restore(owner_engine, done.path, SYSTEM)
    assert await _partition_of(factory, ids[0]) == "audit_logs_y2024m03"
    async with factory() as session:  # the search finds the restored rows by their agent
        agents = await session.scalars(text("SELECT user_agent FROM audit_user_agents"))
        assert "Mozilla/5.0 Firefox" in set(agents)
    await sealing.seal(factory, keys)
    assert (await _verify(factory, keys)).problems == []


async def test_a_corrupted_archive_is_refused_and_changes_nothing(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    tmp_path: Path,
) -> None:
    await _sealed_old_month(factory, keys)
    done = await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    data = bytearray(done.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    done.path.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="corrupted"):
        await archiving.restore(owner_engine, done.path, SYSTEM)
    async with factory() as session:
        assert await lifecycle.table_exists(session, "audit_logs_y2024m03") == (False, False)


async def test_an_unwritable_archive_directory_leaves_the_partition(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    tmp_path: Path,
) -> None:
    ids = await _sealed_old_month(factory, keys)
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    with pytest.raises(InvalidInput, match="partition is untouched"):
        await archiving.archive_month(owner_engine, OLD_MONTH, blocked / "sub", keys, SYSTEM)
    assert await _partition_of(factory, ids[0]) == "audit_logs_y2024m03"


async def test_an_archive_killed_after_the_detach_leaves_the_partition_attached(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The detach, the drop and the AUDIT_ARCHIVED row are one transaction: an archive that
    dies after the detach (here: the row cannot be written) leaves the month attached, and the
    next run, finding the verified file, finishes it."""
    ids = await _sealed_old_month(factory, keys)

    async def dies(*args: object, **kwargs: object) -> None:
        raise OSError("the process was killed")

    with monkeypatch.context() as patched:
        patched.setattr(archiving, "record", dies)
        with pytest.raises(OSError, match="killed"):
            await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    assert await _partition_of(factory, ids[0]) == "audit_logs_y2024m03"
    done = await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    assert done.rows == 4
    async with factory() as session:
        assert await lifecycle.table_exists(session, "audit_logs_y2024m03") == (False, False)


async def test_a_partition_held_by_a_query_is_left_attached_and_archived_on_the_next_run(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await _sealed_old_month(factory, keys)
    monkeypatch.setattr(archiving, "DETACH_ATTEMPTS", 1)
    async with factory() as reader, reader.begin():  # a long report reading the month
        await reader.execute(
            text("SELECT count(*) FROM audit_logs WHERE created_at >= :m"), {"m": OLD_MONTH}
        )
        with pytest.raises(Conflict, match=r"not detached\. Run the archive again"):
            await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    assert await _partition_of(factory, ids[0]) == "audit_logs_y2024m03"
    done = await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    assert done.rows == 4


async def test_a_month_left_detached_is_listed_and_finished_by_its_archive(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    tmp_path: Path,
) -> None:
    """A month's table detached but not dropped (what a kill between the two left before they
    shared a transaction) is listed, due, and archived from the table itself."""
    ids = await _sealed_old_month(factory, keys)
    async with owner_engine.begin() as connection:
        await connection.execute(
            text("ALTER TABLE audit_logs DETACH PARTITION audit_logs_y2024m03")
        )
    async with factory() as session:
        listed = await partitions.listing(session)
    assert ("audit_logs_y2024m03", lifecycle.DETACHED) in [(p.name, p.bounds) for p in listed]
    assert OLD_MONTH in partitions.due_months(listed, 12)
    done = await archiving.archive_month(owner_engine, OLD_MONTH, tmp_path / "arch", keys, SYSTEM)
    assert done.rows == 4
    with gzip.open(done.path, "rt") as handle:
        assert sorted(line.split('"id":"')[1].split('"')[0] for line in handle) == sorted(ids)
    async with factory() as session:
        assert await lifecycle.table_exists(session, "audit_logs_y2024m03") == (False, False)


def _retaining(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "audit_retention_months": 12,
            "audit_archive_dir": tmp_path / "archive",
            "audit_seal_key_dir": tmp_path / "seal",
        }
    )


async def test_a_worker_that_finds_the_archive_busy_leaves_it_quietly(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every server worker runs the retention schedule; those whose archive process finds
    another archiving say so in one line (no error, no traceback) and leave the month to it."""
    monkeypatch.setattr(partitions, "due_months", lambda found, months: [OLD_MONTH])
    async with owner_engine.connect() as other_archive:
        assert await lifecycle.try_archive_lock(other_archive)
        with caplog.at_level("INFO", logger="pe_portal.ops.retention"):
            await retention._tick(factory, _retaining(settings, tmp_path))
        await lifecycle.release_archive_lock(other_archive)
    assert [r.levelname for r in caplog.records] == ["INFO"], caplog.records
    assert "another process is archiving" in caplog.records[0].getMessage()
    assert not (tmp_path / "archive").exists()


async def test_the_schedule_archives_in_a_process_of_its_own(
    factory: async_sessionmaker[AsyncSession],
    owner_engine: AsyncEngine,
    keys: seal_keys.SealKeys,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The archive's CPU work runs in a nice-19 child, not in the worker (whose GIL a thread
    would share): the month is archived and dropped, and the worker logs what the child did."""
    await _sealed_old_month(factory, keys)
    monkeypatch.setattr(partitions, "due_months", lambda found, months: [OLD_MONTH])
    with caplog.at_level("INFO", logger="pe_portal.ops.retention"):
        await retention._tick(factory, _retaining(settings, tmp_path))
    assert (tmp_path / "archive" / "audit_logs-2024-03.manifest.json").exists()
    assert "audit month 2024-03 archived" in caplog.text
    async with owner_engine.connect() as connection:
        gone = await connection.scalar(text("SELECT to_regclass('audit_logs_y2024m03') IS NULL"))
    assert gone is True


async def test_a_failing_archive_process_says_why(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child's readable reason reaches the schedule's log (which retries within the hour);
    the partition stays."""
    (tmp_path / "archive").write_text("a file where the directory should be")
    monkeypatch.setattr(partitions, "due_months", lambda found, months: [OLD_MONTH])
    with pytest.raises(retention.ArchiveFailed, match="Cannot write the archive in"):
        await retention._tick(factory, _retaining(settings, tmp_path))
