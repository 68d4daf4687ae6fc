"""The `audit_logs` table, partitioned by month: append-only (enforced by triggers and by grants),
and the tables that seal it (DESIGN "Audit trail over years")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Text,
    all_,
    and_,
    any_,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import ColumnElement

from pe_portal.db.base import Base, UTCDateTime, created_at_column, id_column


class AuditAction(StrEnum):
    REGISTER = "REGISTER"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    LOGOUT_ALL = "LOGOUT_ALL"
    TOKEN_REFRESH = "TOKEN_REFRESH"
    TOKEN_REUSE_DETECTED = "TOKEN_REUSE_DETECTED"
    SESSION_REVOKED = "SESSION_REVOKED"
    SESSIONS_CLEANED_UP = "SESSIONS_CLEANED_UP"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"
    PASSWORD_RESET = "PASSWORD_RESET"
    EMAIL_VERIFICATION_SENT = "EMAIL_VERIFICATION_SENT"
    EMAIL_VERIFIED = "EMAIL_VERIFIED"
    PROFILE_UPDATED = "PROFILE_UPDATED"
    USER_UPDATED = "USER_UPDATED"
    USER_DEACTIVATED = "USER_DEACTIVATED"
    USER_ACTIVATED = "USER_ACTIVATED"
    USER_DELETED = "USER_DELETED"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    MFA_ENROLLED = "MFA_ENROLLED"
    MFA_REMOVED = "MFA_REMOVED"
    MFA_VERIFIED = "MFA_VERIFIED"
    MFA_FAILED = "MFA_FAILED"
    RECOVERY_CODE_USED = "RECOVERY_CODE_USED"
    RECOVERY_CODES_REGENERATED = "RECOVERY_CODES_REGENERATED"
    KEYS_ROTATED = "KEYS_ROTATED"
    AUDIT_ARCHIVED = "AUDIT_ARCHIVED"
    AUDIT_RESTORED = "AUDIT_RESTORED"


class AuditResource(StrEnum):
    AUTH = "AUTH"
    USER = "USER"
    SESSION = "SESSION"
    PROFILE = "PROFILE"
    AUDIT = "AUDIT"


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_user", "user_id"),
        Index("idx_audit_logs_action", "action"),
        Index("idx_audit_logs_created", "created_at"),
        Index("idx_audit_logs_composite", "user_id", "action", "created_at"),
        # The own trail (GET /users/me/audit-logs) is read newest first by (created_at, id): in
        # this order a page is a range of the index, with no sort of the user's other rows.
        Index("idx_audit_logs_user_created", "user_id", text("created_at DESC"), text("id DESC")),
        # Failed sign-ins are counted per e-mail digest (known and unknown addresses alike), so
        # probing addresses is throttled exactly like guessing passwords (DESIGN 11); wrong
        # second-factor codes count toward the same lock-out.
        Index(
            "idx_audit_logs_sign_in_failed",
            text("(details ->> 'emailDigest')"),
            "created_at",
            postgresql_where=text("action IN ('LOGIN_FAILED', 'MFA_FAILED')"),
        ),
        # Search (the studio, `?q=`): the start of an IP, the rows of an agent found in
        # audit_user_agents (by equality: a hash, as an agent may outgrow a btree entry), the
        # words of the details.
        Index(
            "idx_audit_logs_ip_prefix",
            "ip_address",
            postgresql_ops={"ip_address": "text_pattern_ops"},
        ),
        Index("idx_audit_logs_agent", "user_agent", postgresql_using="hash"),
        Index(
            "idx_audit_logs_details_fts",
            text("to_tsvector('simple'::regconfig, coalesce(details, '{}'::jsonb))"),
            postgresql_using="gin",
        ),
        # Range-partitioned by month; the partitions are made by audit_ensure_partition().
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_audit_logs_user")
    )
    action: Mapped[str] = mapped_column(nullable=False)
    resource: Mapped[str | None] = mapped_column()
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip_address: Mapped[str | None] = mapped_column()
    user_agent: Mapped[str | None] = mapped_column()
    # Part of the primary key: a partitioned table's keys include the partition key.
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), primary_key=True, server_default=text("CURRENT_TIMESTAMP")
    )


class AuditUserAgent(Base):
    """Every distinct user agent of the trail (recorded by a trigger on insert, and by a
    restore): a fragment is searched among these few strings, not among the rows."""

    __tablename__ = "audit_user_agents"
    __table_args__ = (
        PrimaryKeyConstraint("digest", name="audit_user_agents_pkey"),
        Index(
            "idx_audit_user_agents_trgm",
            "user_agent",
            postgresql_using="gin",
            postgresql_ops={"user_agent": "gin_trgm_ops"},
        ),
    )

    digest: Mapped[str] = mapped_column()  # md5: a key of any agent's length
    user_agent: Mapped[str] = mapped_column()


class AuditUnsealed(Base):
    """A row not yet sealed (queued by a trigger on insert; taken by the next seal)."""

    __tablename__ = "audit_unsealed"
    # In seal order: a seal reads the front of the key's index, never sorts the whole queue.
    __table_args__ = (PrimaryKeyConstraint("created_at", "row_id", name="audit_unsealed_pkey"),)

    row_id: Mapped[str] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditRemoval(Base):
    """A row an honest DELETE removed (the user cascade, the retention switch): its trace."""

    __tablename__ = "audit_removals"
    __table_args__ = (
        PrimaryKeyConstraint("row_id", "created_at", name="audit_removals_pkey"),
        Index("idx_audit_removals_created", "created_at"),
    )

    row_id: Mapped[str] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[str | None] = mapped_column()
    reason: Mapped[str] = mapped_column()
    removed_at: Mapped[datetime] = created_at_column()


class AuditCheckpoint(Base):
    """One sealed window: rows of one month in seal order, their digests, the chain link and
    the Ed25519 signature over the checkpoint's digest."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (
        PrimaryKeyConstraint("seq", name="audit_checkpoints_pkey"),
        Index("idx_audit_checkpoints_month", "month"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, autoincrement=False)
    month: Mapped[date] = mapped_column()
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    row_count: Mapped[int] = mapped_column(Integer)
    row_ids: Mapped[list[str]] = mapped_column(ARRAY(Text()))
    row_times: Mapped[list[datetime]] = mapped_column(ARRAY(TIMESTAMP(precision=3)))
    row_digests: Mapped[bytes] = mapped_column(LargeBinary())
    root: Mapped[bytes] = mapped_column(LargeBinary())
    previous: Mapped[bytes | None] = mapped_column(LargeBinary())
    digest: Mapped[bytes] = mapped_column(LargeBinary())
    key_id: Mapped[str] = mapped_column()
    signature: Mapped[bytes] = mapped_column(LargeBinary())


# Search (the studio, `GET /users/me/audit-logs?q=`): the expressions the indexes are built on.
_SIMPLE: ColumnElement[str] = literal_column("'simple'::regconfig")
SEARCH_MAX_LENGTH = 200
# The table's own columns, or those of a subquery over it (the newest rows, walked in order).
Columns = ReadOnlyColumnCollection[str, Any]


def _literal(term: str) -> str:
    """`term` with LIKE's own metacharacters taken literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(term: str) -> str:
    """`%term%`: the term anywhere (a fragment of a user agent)."""
    return f"%{_literal(term)}%"


def prefix_pattern(term: str) -> str:
    """`term%`: the start of an IP (a network, a whole address), lower case as stored."""
    return f"{_literal(term.lower())}%"


def search_condition(
    pattern: Any,
    prefix: Any,
    words: Any,
    columns: Columns = AuditLog.__table__.c,
    agents: Sequence[str] | None = None,
) -> ColumnElement[bool]:
    """The start of the IP (idx_audit_logs_ip_prefix), a fragment of the user agent, or the
    words of the details (idx_audit_logs_details_fts). `pattern` is like_pattern(term), `prefix`
    prefix_pattern(term), `words` the term itself.

    The agent's fragment is looked for in the row, or, given `agents` (the distinct agents that
    hold it: audit_user_agents), the row's agent is one of them (idx_audit_logs_agent): the same
    rows, found by index."""
    details = func.to_tsvector(
        _SIMPLE, func.coalesce(columns.details, literal_column("'{}'::jsonb"))
    )
    # A row whose details' text lacks one of the words cannot hold it: that test costs a third
    # of parsing the details, and most rows a search reads in order fail it.
    holds_words = cast(columns.details, Text).ilike(all_(_word_patterns(words)))
    agent: ColumnElement[bool]
    if agents is None:
        agent = columns.user_agent.ilike(pattern)
    elif agents:
        agent = columns.user_agent == any_(literal(list(agents), ARRAY(Text())))
    else:
        agent = false()  # no agent holds it: or_() leaves the branch out
    return or_(
        columns.ip_address.like(prefix),
        agent,
        and_(holds_words, details.op("@@")(func.plainto_tsquery(_SIMPLE, words))),
    )


def _word_patterns(words: Any) -> ColumnElement[Any]:
    """`%word%` for each word of `words` as the details' index parses them (lower-cased, as
    ILIKE compares), LIKE's own characters taken literally; one array per statement. Each word
    is part of one string of the details, and the details' text shows their strings as they are
    (what JSON escapes, quotes and control characters, the parser never puts in a word)."""
    lexemes = func.unnest(func.tsvector_to_array(func.to_tsvector(_SIMPLE, words)))
    words_table = lexemes.table_valued("lexeme").render_derived(name="words")
    # Constants written into the statement (its driver form binds only the words).
    escaped = func.regexp_replace(
        words_table.c.lexeme, literal_column(r"'([\\%_])'"), literal_column(r"'\\\1'"),
        literal_column("'g'"),
    )  # fmt: skip
    anywhere: ColumnElement[str] = literal_column("'%'")
    pattern = anywhere.concat(escaped).concat(anywhere)
    patterns = select(func.array_agg(pattern)).select_from(words_table).scalar_subquery()
    return cast(patterns, ARRAY(Text()))  # an array computed once, not a subquery per row


def row_search_condition(
    term: str, columns: Columns = AuditLog.__table__.c, agents: Sequence[str] | None = None
) -> ColumnElement[bool]:
    """The studio's search of all rows: a user id, or what search_condition finds."""
    found = search_condition(like_pattern(term), prefix_pattern(term), term, columns, agents)
    return or_(columns.user_id == term, found)


class TrailEntry(TypedDict):
    """One row of a trail page: what AuditLogRead shows."""

    id: str
    action: str
    resource: str | None
    details: dict[str, Any] | None
    ip_address: str | None
    user_agent: str | None
    created_at: datetime


class NewEntry(TrailEntry):
    """A row to append: a trail row, and whose it is."""

    user_id: str | None


def details_json(entry: NewEntry) -> str | None:
    """`details` as a driver statement takes it: SQLAlchemy's asyncpg dialect gives `jsonb` a
    codec that expects JSON text."""
    details = entry["details"]
    return None if details is None else json.dumps(details)
