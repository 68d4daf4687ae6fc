"""The schema is the spec's: columns, types, defaults, indexes (plus two documented extras), keys."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

TS = "timestamp(3) without time zone"
UUID_DEFAULT = "(gen_random_uuid())::text"

# (column, type, nullable, default) per table, from the spec's CREATE TABLE statements.
EXPECTED_COLUMNS = {
    "users": [
        ("id", "text", False, UUID_DEFAULT),
        ("email", "text", False, None),
        ("password", "text", False, None),
        ("first_name", "text", True, None),
        ("last_name", "text", True, None),
        ("is_active", "boolean", False, "true"),
        ("is_verified", "boolean", False, "false"),
        ("last_login", TS, True, None),
        ("created_at", TS, False, "CURRENT_TIMESTAMP"),
        ("updated_at", TS, False, "CURRENT_TIMESTAMP"),
    ],
    "user_profiles": [
        ("id", "text", False, UUID_DEFAULT),
        ("user_id", "text", False, None),
        ("phone", "text", True, None),
        ("avatar", "text", True, None),
        ("timezone", "text", False, "'UTC'::text"),
        ("language", "text", False, "'en'::text"),
        ("preferences", "jsonb", True, None),
    ],
    "sessions": [
        ("id", "text", False, UUID_DEFAULT),
        ("user_id", "text", False, None),
        ("refresh_token", "text", False, None),
        ("is_revoked", "boolean", False, "false"),
        ("expires_at", TS, False, None),
        ("user_agent", "text", True, None),
        ("ip_address", "text", True, None),
        ("created_at", TS, False, "CURRENT_TIMESTAMP"),
        ("updated_at", TS, False, "CURRENT_TIMESTAMP"),
    ],
    "audit_logs": [
        ("id", "text", False, UUID_DEFAULT),
        ("user_id", "text", True, None),
        ("action", "text", False, None),
        ("resource", "text", True, None),
        ("details", "jsonb", True, None),
        ("ip_address", "text", True, None),
        ("user_agent", "text", True, None),
        ("created_at", TS, False, "CURRENT_TIMESTAMP"),
    ],
}

# index name -> the tail of its definition, as PostgreSQL prints it.
EXPECTED_INDEXES = {
    "idx_users_email": "UNIQUE INDEX idx_users_email ON public.users USING btree (email)",
    "idx_users_active": "INDEX idx_users_active ON public.users USING btree (is_active)",
    "idx_users_last_login": "INDEX idx_users_last_login ON public.users USING btree (last_login)",
    "idx_user_profiles_user": (
        "UNIQUE INDEX idx_user_profiles_user ON public.user_profiles USING btree (user_id)"
    ),
    "idx_user_profiles_phone": (
        "INDEX idx_user_profiles_phone ON public.user_profiles USING btree (phone) "
        "WHERE (phone IS NOT NULL)"
    ),
    "idx_sessions_refresh_token": (
        "UNIQUE INDEX idx_sessions_refresh_token ON public.sessions USING btree (refresh_token)"
    ),
    "idx_sessions_user": "INDEX idx_sessions_user ON public.sessions USING btree (user_id)",
    "idx_sessions_expires": "INDEX idx_sessions_expires ON public.sessions USING btree (expires_at)",
    "idx_sessions_active": (
        "INDEX idx_sessions_active ON public.sessions USING btree (is_revoked, expires_at)"
    ),
    "idx_audit_logs_user": "INDEX idx_audit_logs_user ON public.audit_logs USING btree (user_id)",
    "idx_audit_logs_action": "INDEX idx_audit_logs_action ON public.audit_logs USING btree (action)",
    "idx_audit_logs_created": (
        "INDEX idx_audit_logs_created ON public.audit_logs USING btree (created_at)"
    ),
    "idx_audit_logs_composite": (
        "INDEX idx_audit_logs_composite ON public.audit_logs USING btree "
        "(user_id, action, created_at)"
    ),
}

# Ours beyond the spec's, each one documented in docs/architecture.md "Database".
EXTRA_INDEXES = {
    "idx_audit_logs_sign_in_failed": (
        "INDEX idx_audit_logs_sign_in_failed ON public.audit_logs USING btree "
        "(((details ->> 'emailDigest'::text)), created_at) "
        "WHERE (action = ANY (ARRAY['LOGIN_FAILED'::text, 'MFA_FAILED'::text]))"
    ),
    "idx_audit_logs_user_created": (
        "INDEX idx_audit_logs_user_created ON public.audit_logs USING btree "
        "(user_id, created_at DESC, id DESC)"
    ),
    "idx_mail_outbox_due": (
        "INDEX idx_mail_outbox_due ON public.mail_outbox USING btree (next_attempt_at) "
        "WHERE (status = 'pending'::text)"
    ),
    "idx_mail_outbox_finished": (
        "INDEX idx_mail_outbox_finished ON public.mail_outbox USING btree (finished_at) "
        "WHERE (status <> 'pending'::text)"
    ),
    # Search (DESIGN "Audit trail over years", 20261201000200 and 300): an IP's start, an agent
    # by equality (its fragments among the distinct agents, pg_trgm), full text.
    "idx_audit_logs_ip_prefix": (
        "INDEX idx_audit_logs_ip_prefix ON public.audit_logs USING btree "
        "(ip_address text_pattern_ops)"
    ),
    "idx_audit_logs_agent": (
        "INDEX idx_audit_logs_agent ON public.audit_logs USING hash (user_agent)"
    ),
    "idx_audit_user_agents_trgm": (
        "INDEX idx_audit_user_agents_trgm ON public.audit_user_agents USING gin "
        "(user_agent gin_trgm_ops)"
    ),
    "idx_audit_logs_details_fts": (
        "INDEX idx_audit_logs_details_fts ON public.audit_logs USING gin "
        "(to_tsvector('simple'::regconfig, COALESCE(details, '{}'::jsonb)))"
    ),
    "idx_users_search_trgm": (
        "INDEX idx_users_search_trgm ON public.users USING gin "
        "((((((COALESCE(first_name, ''::text) || ' '::text) || COALESCE(last_name, ''::text)) "
        "|| ' '::text) || email)) gin_trgm_ops)"
    ),
    # The seal's tables: removals looked up by month, checkpoints by month.
    "idx_audit_removals_created": (
        "INDEX idx_audit_removals_created ON public.audit_removals USING btree (created_at)"
    ),
    "idx_audit_checkpoints_month": (
        "INDEX idx_audit_checkpoints_month ON public.audit_checkpoints USING btree (month)"
    ),
    # The second factor's tables (20261201000100_add_mfa), outside the spec.
    "idx_mfa_factors_user": "INDEX idx_mfa_factors_user ON public.mfa_factors USING btree (user_id)",
    "idx_mfa_factors_credential": (
        "UNIQUE INDEX idx_mfa_factors_credential ON public.mfa_factors USING btree "
        "(credential_id) WHERE (credential_id IS NOT NULL)"
    ),
    "idx_mfa_recovery_codes_user_digest": (
        "UNIQUE INDEX idx_mfa_recovery_codes_user_digest ON public.mfa_recovery_codes "
        "USING btree (user_id, digest)"
    ),
    "idx_mfa_challenges_token": (
        "UNIQUE INDEX idx_mfa_challenges_token ON public.mfa_challenges USING btree (token_digest)"
    ),
    "idx_mfa_challenges_user": (
        "INDEX idx_mfa_challenges_user ON public.mfa_challenges USING btree (user_id)"
    ),
    "idx_mfa_challenges_expires": (
        "INDEX idx_mfa_challenges_expires ON public.mfa_challenges USING btree (expires_at)"
    ),
}

# Columns beyond the spec's, at the end of its tables (DESIGN "Second factor": the session
# remembers its assurance level).
EXTRA_COLUMNS = {"sessions": [("aal", "smallint", False, "1")]}


@pytest.mark.parametrize("table", sorted(EXPECTED_COLUMNS))
async def test_columns_match_the_spec(db_session: AsyncSession, table: str) -> None:
    rows = await db_session.execute(
        text(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod), is_nullable = 'YES', "
            "column_default FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attrelid = c.table_name::regclass AND a.attname = c.column_name "
            "WHERE table_name = :table ORDER BY ordinal_position"
        ),
        {"table": table},
    )
    assert [tuple(row) for row in rows] == EXPECTED_COLUMNS[table] + EXTRA_COLUMNS.get(table, [])


async def _indexes(db_session: AsyncSession) -> dict[str, str]:
    rows = await db_session.execute(
        # The parent tables' indexes: a partition's are copies of its parent's (named after
        # them, with the partition's suffix), and `ON ONLY` marks a partitioned parent.
        text(
            "SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') FROM pg_indexes "
            "WHERE schemaname = 'public' AND tablename !~ '^audit_logs_(y[0-9]{4}m[0-9]{2}|default)$'"
        )
    )
    return {name: definition for name, definition in rows}


async def test_every_spec_index_exists_as_defined(db_session: AsyncSession) -> None:
    actual = await _indexes(db_session)
    for name, tail in EXPECTED_INDEXES.items():
        assert name in actual, f"missing index {name}"
        assert actual[name].endswith(tail), actual[name]


async def test_no_index_beyond_the_spec_but_the_documented_extras(
    db_session: AsyncSession,
) -> None:
    """Every index costs each insert: one outside the spec must be listed (and documented)."""
    actual = await _indexes(db_session)
    secondary = {name for name in actual if not name.endswith(("_pkey", "_pkc"))}
    assert secondary == set(EXPECTED_INDEXES) | set(EXTRA_INDEXES)
    for name, tail in EXTRA_INDEXES.items():
        assert actual[name].endswith(tail), actual[name]


async def test_foreign_keys_cascade_to_users(db_session: AsyncSession) -> None:
    rows = await db_session.execute(
        text(
            "SELECT conrelid::regclass::text, confrelid::regclass::text, confdeltype::text "
            # conparentid: a partition's copy of its parent's key is not listed again
            "FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 ORDER BY 1"
        )
    )
    assert [tuple(row) for row in rows] == [
        ("audit_logs", "users", "c"),
        ("mfa_challenges", "users", "c"),
        ("mfa_factors", "users", "c"),
        ("mfa_recovery_codes", "users", "c"),
        ("sessions", "users", "c"),
        ("user_profiles", "users", "c"),
    ]


async def test_defaults_fill_a_hand_written_row(db_session: AsyncSession) -> None:
    row = (
        await db_session.execute(
            text(
                "INSERT INTO users (email, password) VALUES ('hand@example.com', 'x') "
                "RETURNING id, is_active, is_verified, created_at, updated_at"
            )
        )
    ).one()
    assert len(row.id) == 36  # gen_random_uuid() fallback
    assert row.is_active is True
    assert row.is_verified is False
    assert row.created_at is not None
    assert row.updated_at == row.created_at
    profile = (
        await db_session.execute(
            text("INSERT INTO user_profiles (user_id) VALUES (:uid) RETURNING timezone, language"),
            {"uid": row.id},
        )
    ).one()
    assert tuple(profile) == ("UTC", "en")
