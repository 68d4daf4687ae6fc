"""Uniqueness, normalised e-mail, `updated_at`, the append-only audit table, cascades, grants."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import record
from pe_portal.context import SYSTEM


async def insert_user(session: AsyncSession, email: str = "a@example.com") -> str:
    result = await session.execute(
        text("INSERT INTO users (email, password) VALUES (:e, 'hash') RETURNING id"), {"e": email}
    )
    return str(result.scalar_one())


async def test_email_is_unique(db_session: AsyncSession) -> None:
    await insert_user(db_session, "dup@example.com")
    with pytest.raises(IntegrityError):
        await insert_user(db_session, "dup@example.com")


@pytest.mark.parametrize("email", ["Upper@Example.com", " padded@example.com "])
async def test_email_must_be_stored_normalised(db_session: AsyncSession, email: str) -> None:
    with pytest.raises(IntegrityError, match="ck_users_email_normalised"):
        await insert_user(db_session, email)


async def test_one_profile_per_user(db_session: AsyncSession) -> None:
    user_id = await insert_user(db_session)
    await db_session.execute(
        text("INSERT INTO user_profiles (user_id) VALUES (:u)"), {"u": user_id}
    )
    with pytest.raises(IntegrityError):
        await db_session.execute(
            text("INSERT INTO user_profiles (user_id) VALUES (:u)"), {"u": user_id}
        )


async def test_refresh_token_digest_is_unique(db_session: AsyncSession) -> None:
    user_id = await insert_user(db_session)
    insert = text(
        "INSERT INTO sessions (user_id, refresh_token, expires_at) "
        "VALUES (:u, 'digest', now() + interval '1 day')"
    )
    await db_session.execute(insert, {"u": user_id})
    with pytest.raises(IntegrityError):
        await db_session.execute(insert, {"u": user_id})


async def test_updated_at_is_kept_by_the_database(db_session: AsyncSession) -> None:
    user_id = (
        await db_session.execute(
            text(
                "INSERT INTO users (email, password, updated_at) "
                "VALUES ('old@example.com', 'h', '2020-01-01') RETURNING id"
            )
        )
    ).scalar_one()
    # A hand-written UPDATE that does not mention updated_at still moves it.
    after = (
        await db_session.execute(
            text("UPDATE users SET first_name = 'Ada' WHERE id = :u RETURNING updated_at"),
            {"u": user_id},
        )
    ).scalar_one()
    assert after.year >= 2025


async def test_audit_rows_cannot_be_updated_even_by_the_owner(
    owner_engine: AsyncEngine,
) -> None:
    async with owner_engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(
            text("INSERT INTO audit_logs (action) VALUES ('LOGIN') RETURNING id")
        )
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text("UPDATE audit_logs SET action = 'LOGOUT'"))
        await transaction.rollback()


async def test_audit_rows_cannot_be_deleted_directly(owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as connection:
        transaction = await connection.begin()
        user_id = (
            await connection.execute(
                text(
                    "INSERT INTO users (email, password) VALUES ('d@example.com', 'h') RETURNING id"
                )
            )
        ).scalar_one()
        await connection.execute(
            text("INSERT INTO audit_logs (user_id, action) VALUES (:u, 'LOGIN')"), {"u": user_id}
        )
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(
                text("DELETE FROM audit_logs WHERE user_id = :u"), {"u": user_id}
            )
        await transaction.rollback()


async def test_deleting_a_user_cascades_to_profile_sessions_and_audit(
    db_session: AsyncSession,
) -> None:
    user_id = await insert_user(db_session)
    await db_session.execute(
        text("INSERT INTO user_profiles (user_id) VALUES (:u)"), {"u": user_id}
    )
    await db_session.execute(
        text(
            "INSERT INTO sessions (user_id, refresh_token, expires_at) "
            "VALUES (:u, 'x', now() + interval '1 day')"
        ),
        {"u": user_id},
    )
    await record(
        db_session,
        action=AuditAction.LOGIN,
        resource=AuditResource.AUTH,
        context=SYSTEM,
        user_id=user_id,
    )
    await db_session.execute(text("DELETE FROM users WHERE id = :u"), {"u": user_id})
    for table in ("user_profiles", "sessions", "audit_logs"):
        count = (
            await db_session.execute(
                text(f"SELECT count(*) FROM {table} WHERE user_id = :u"),  # noqa: S608
                {"u": user_id},
            )
        ).scalar_one()
        assert count == 0, table


async def test_retention_switch_allows_an_explicit_purge(owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("INSERT INTO audit_logs (action) VALUES ('OLD_EVENT')"))
        await connection.execute(text("SET LOCAL pe_portal.audit_retention = 'on'"))
        result = await connection.execute(text("DELETE FROM audit_logs WHERE action = 'OLD_EVENT'"))
        assert result.rowcount == 1
        await transaction.rollback()


@pytest.mark.parametrize(
    ("privilege", "allowed"),
    [("SELECT", True), ("INSERT", True), ("UPDATE", False), ("DELETE", False), ("TRUNCATE", False)],
)
async def test_app_role_cannot_rewrite_the_audit_table(
    db_session: AsyncSession, privilege: str, allowed: bool
) -> None:
    granted = (
        await db_session.execute(
            text("SELECT has_table_privilege(current_user, 'audit_logs', :p)"), {"p": privilege}
        )
    ).scalar_one()
    assert granted is allowed


async def test_app_role_is_refused_an_audit_delete(db_session: AsyncSession) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        await db_session.execute(text("DELETE FROM audit_logs"))
