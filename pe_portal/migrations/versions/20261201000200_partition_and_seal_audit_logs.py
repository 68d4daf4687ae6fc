"""audit_logs by month: a partitioned table with its rows, sealing and search (DESIGN "Audit
trail over years")

The old heap is renamed, the partitioned parent created with one partition per month that holds
rows (and the current month plus three ahead) and a DEFAULT partition, the rows copied in
batches, the old heap dropped. The whole revision is one transaction (transactional DDL): an
interrupted run leaves the old table as it was, and running it again starts over.

Revision ID: 20261201000200
Revises: 20261201000100
Create Date: 2026-12-01 00:02:00
"""

from collections.abc import Sequence

from alembic import context, op
from sqlalchemy import text

revision: str = "20261201000200"
down_revision: str | None = "20261201000100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 50_000
OLD = "audit_logs_unpartitioned"

COLUMNS = "id, user_id, action, resource, details, ip_address, user_agent, created_at"

PARENT = """
CREATE TABLE audit_logs (
    id TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    user_id TEXT,
    action TEXT NOT NULL,
    resource TEXT,
    details JSONB,
    ip_address TEXT,
    user_agent TEXT,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT audit_logs_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT fk_audit_logs_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) PARTITION BY RANGE (created_at)
"""

SEARCH_INDEXES = (
    "CREATE INDEX idx_audit_logs_ip_trgm ON audit_logs USING gin (ip_address gin_trgm_ops)",
    "CREATE INDEX idx_audit_logs_agent_trgm ON audit_logs USING gin (user_agent gin_trgm_ops)",
    "CREATE INDEX idx_audit_logs_details_fts ON audit_logs "
    "USING gin (to_tsvector('simple'::regconfig, coalesce(details, '{}'::jsonb)))",
)

INDEXES = (
    "CREATE INDEX idx_audit_logs_user ON audit_logs (user_id)",
    "CREATE INDEX idx_audit_logs_action ON audit_logs (action)",
    "CREATE INDEX idx_audit_logs_created ON audit_logs (created_at)",
    "CREATE INDEX idx_audit_logs_composite ON audit_logs (user_id, action, created_at)",
    "CREATE INDEX idx_audit_logs_user_created ON audit_logs (user_id, created_at DESC, id DESC)",
    "CREATE INDEX idx_audit_logs_sign_in_failed ON audit_logs "
    "(((details ->> 'emailDigest')), created_at) WHERE action IN ('LOGIN_FAILED', 'MFA_FAILED')",
    *SEARCH_INDEXES,
)

USER_SEARCH = (
    "CREATE INDEX idx_users_search_trgm ON users USING gin "
    "((coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || email) gin_trgm_ops)"
)

# UPDATE is always refused. DELETE passes for the cascade from a deleted user, the retention
# switch, and the partition function moving rows out of the DEFAULT partition; TRUNCATE
# (a statement trigger on the parent and on each partition) only under the retention switch.
IMMUTABLE = """
CREATE OR REPLACE FUNCTION audit_logs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE')
       AND current_setting('pe_portal.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF current_setting('pe_portal.audit_moving', true) = 'on' THEN
            RETURN OLD;
        END IF;
        IF pg_trigger_depth() > 1 AND OLD.user_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""

OLD_IMMUTABLE = """
CREATE OR REPLACE FUNCTION audit_logs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('pe_portal.audit_retention', true) = 'on' THEN
            RETURN OLD;
        END IF;
        IF pg_trigger_depth() > 1 AND OLD.user_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""

# Every new row waits in audit_unsealed until a seal takes it: the seal order is given at seal
# time, so a late commit or an old created_at is sealed by a later checkpoint. SECURITY DEFINER:
# the app role writes these tables only through the triggers.
ENQUEUE = """
CREATE FUNCTION audit_logs_enqueue() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_unsealed (row_id, created_at) VALUES (NEW.id, NEW.created_at);
    RETURN NULL;
END $$
"""

# What an honest DELETE removed (the user cascade, the retention switch): verify accepts a
# sealed row that is gone only when it is listed here.
REMOVED = """
CREATE FUNCTION audit_logs_removed() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF current_setting('pe_portal.audit_moving', true) = 'on' THEN
        RETURN NULL;
    END IF;
    DELETE FROM audit_unsealed WHERE row_id = OLD.id AND created_at = OLD.created_at;
    INSERT INTO audit_removals (row_id, created_at, user_id, reason)
    VALUES (OLD.id, OLD.created_at, OLD.user_id,
            CASE WHEN current_setting('pe_portal.audit_retention', true) = 'on'
                 THEN 'retention' ELSE 'user_deleted' END)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""

# A partition's indexes are named after the parent's (idx_audit_logs_composite_y2026m01), so a
# plan names the index it uses whatever the partition.
NAME_INDEXES = """
CREATE FUNCTION audit_name_partition_indexes(part regclass) RETURNS void LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    suffix text := substr(part::text, length('audit_logs') + 1);
    item record;
BEGIN
    FOR item IN
        SELECT c.relname AS child, p.relname AS parent
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid
        JOIN pg_inherits i ON i.inhrelid = c.oid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE x.indrelid = part AND c.relname <> p.relname || suffix
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', item.child, item.parent || suffix);
    END LOOP;
END $$
"""

# One month's partition, created when missing; rows of that month that had landed in the
# DEFAULT partition move into it. Callable by the app role (the server's scheduler).
ENSURE = """
CREATE FUNCTION audit_ensure_partition(month date) RETURNS text LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    lower_bound date := date_trunc('month', month)::date;
    upper_bound date := (date_trunc('month', month) + interval '1 month')::date;
    name text := 'audit_logs_y' || to_char(lower_bound, 'YYYY') || 'm' || to_char(lower_bound, 'MM');
BEGIN
    IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(name)) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('audit_ensure_partition'));
    IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(name)) THEN
        RETURN NULL;
    END IF;
    -- A table of that name that is no partition is a month being restored: attached as it is.
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I (LIKE audit_logs INCLUDING DEFAULTS)', name);
    END IF;
    IF to_regclass('audit_logs_default') IS NOT NULL THEN
        PERFORM set_config('pe_portal.audit_moving', 'on', true);
        EXECUTE format(
            'WITH moved AS (DELETE FROM audit_logs_default WHERE created_at >= %L '
            'AND created_at < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
            lower_bound, upper_bound, name);
        PERFORM set_config('pe_portal.audit_moving', 'off', true);
    END IF;
    EXECUTE format('ALTER TABLE audit_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, lower_bound, upper_bound);
    PERFORM audit_name_partition_indexes(name::regclass);
    EXECUTE format('DROP TRIGGER IF EXISTS audit_logs_no_truncate ON %I', name);
    EXECUTE format('CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_immutable()', name);
    RETURN name;
END $$
"""

SEAL_TABLES = (
    """
    CREATE TABLE audit_unsealed (
        row_id TEXT NOT NULL,
        created_at TIMESTAMP(3) NOT NULL,
        -- in seal order: each seal reads the front of this index, never sorts the queue
        CONSTRAINT audit_unsealed_pkey PRIMARY KEY (created_at, row_id)
    )
    """,
    """
    CREATE TABLE audit_removals (
        row_id TEXT NOT NULL,
        created_at TIMESTAMP(3) NOT NULL,
        user_id TEXT,
        reason TEXT NOT NULL,
        removed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT audit_removals_pkey PRIMARY KEY (row_id, created_at)
    )
    """,
    "CREATE INDEX idx_audit_removals_created ON audit_removals (created_at)",
    """
    CREATE TABLE audit_checkpoints (
        seq BIGINT NOT NULL,
        month DATE NOT NULL,
        sealed_at TIMESTAMP(3) NOT NULL,
        row_count INTEGER NOT NULL,
        row_ids TEXT[] NOT NULL,
        row_times TIMESTAMP(3)[] NOT NULL,
        row_digests BYTEA NOT NULL,
        root BYTEA NOT NULL,
        previous BYTEA,
        digest BYTEA NOT NULL,
        key_id TEXT NOT NULL,
        signature BYTEA NOT NULL,
        CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (seq)
    )
    """,
    "CREATE INDEX idx_audit_checkpoints_month ON audit_checkpoints (month)",
)


def _progress() -> object | None:
    return context.config.attributes.get("progress") if context.config else None


def _create_parent() -> None:
    op.execute(PARENT)
    for statement in INDEXES:
        op.execute(statement)
    op.execute(IMMUTABLE)
    op.execute(
        "CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_immutable()"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_immutable()"
    )
    for statement in SEAL_TABLES:
        op.execute(statement)
    for table in ("audit_checkpoints", "audit_removals"):
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_logs_immutable()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_immutable()"
        )
    op.execute(ENQUEUE)
    op.execute(REMOVED)
    op.execute(NAME_INDEXES)
    op.execute(ENSURE)
    op.execute("REVOKE ALL ON FUNCTION audit_ensure_partition(date) FROM PUBLIC")
    op.execute("CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT")
    op.execute(
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs_default "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_immutable()"
    )
    op.execute("SELECT audit_name_partition_indexes('audit_logs_default')")
    months = op.get_bind().execute(
        text(
            f"SELECT DISTINCT date_trunc('month', created_at)::date FROM {OLD} "  # noqa: S608
            "UNION SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') "
            "+ make_interval(months => n))::date FROM generate_series(0, 3) AS n ORDER BY 1"
        )
    )
    for (month,) in months:
        op.get_bind().execute(text("SELECT audit_ensure_partition(:m)"), {"m": month})


def _copy_rows() -> None:
    """Batches in (created_at, id) order: bounded work per statement, a progress bar from the
    CLI. The triggers are created after the copy, so the copied rows are queued in one go."""
    bind = op.get_bind()
    total = bind.execute(text(f"SELECT count(*) FROM {OLD}")).scalar_one()  # noqa: S608
    progress = _progress()
    if progress is not None:
        progress.stage("audit_logs: copying rows into monthly partitions", total)  # type: ignore[attr-defined]
    last: tuple[object, object] | None = None
    while True:
        where = "" if last is None else "WHERE (created_at, id) > (:at, :id)"
        rows = bind.execute(
            text(
                f"WITH batch AS (SELECT {COLUMNS} FROM {OLD} {where} "  # noqa: S608
                f"ORDER BY created_at, id LIMIT {BATCH}), "
                f"copied AS (INSERT INTO audit_logs ({COLUMNS}) SELECT {COLUMNS} FROM batch "
                "RETURNING created_at, id) "
                "SELECT created_at, id, count(*) OVER () FROM copied "
                "ORDER BY created_at DESC, id DESC LIMIT 1"
            ),
            {} if last is None else {"at": last[0], "id": last[1]},
        ).first()
        if rows is None:
            break
        last = (rows[0], rows[1])
        if progress is not None:
            progress.advance(rows[2])  # type: ignore[attr-defined]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"ALTER TABLE audit_logs RENAME TO {OLD}")
    op.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT audit_logs_pkey TO {OLD}_pkey")
    op.execute(f"ALTER TABLE {OLD} DROP CONSTRAINT fk_audit_logs_user")
    op.execute(f"DROP TRIGGER audit_logs_immutable ON {OLD}")
    for name in (
        "user", "action", "created", "composite", "user_created", "sign_in_failed",
    ):  # fmt: skip
        op.execute(f"DROP INDEX IF EXISTS idx_audit_logs_{name}")
    op.execute(f"CREATE INDEX {OLD}_order ON {OLD} (created_at, id)")
    _create_parent()
    _copy_rows()
    op.execute(
        "INSERT INTO audit_unsealed (row_id, created_at) SELECT id, created_at FROM audit_logs"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_enqueue AFTER INSERT ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_enqueue()"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_removed AFTER DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_removed()"
    )
    op.execute(f"DROP TABLE {OLD}")
    op.execute(USER_SEARCH)


def downgrade() -> None:
    """Back to one heap with every row still in the database (archived months stay in their
    files: restore them first)."""
    op.execute("DROP INDEX IF EXISTS idx_users_search_trgm")
    op.execute(
        """
        CREATE TABLE audit_logs_heap (
            id TEXT NOT NULL DEFAULT gen_random_uuid()::text,
            user_id TEXT,
            action TEXT NOT NULL,
            resource TEXT,
            details JSONB,
            ip_address TEXT,
            user_agent TEXT,
            created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
        )
        """
    )
    op.execute(f"INSERT INTO audit_logs_heap ({COLUMNS}) SELECT {COLUMNS} FROM audit_logs")  # noqa: S608
    op.execute("SET LOCAL pe_portal.audit_retention = 'on'")
    op.execute("DROP TABLE audit_logs CASCADE")
    op.execute("DROP TABLE audit_checkpoints, audit_removals, audit_unsealed")
    op.execute("DROP FUNCTION audit_ensure_partition(date)")
    op.execute("DROP FUNCTION audit_name_partition_indexes(regclass)")
    op.execute("DROP FUNCTION audit_logs_enqueue()")
    op.execute("DROP FUNCTION audit_logs_removed()")
    op.execute("ALTER TABLE audit_logs_heap RENAME TO audit_logs")
    op.execute("ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_pkey PRIMARY KEY (id)")
    op.execute(
        "ALTER TABLE audit_logs ADD CONSTRAINT fk_audit_logs_user FOREIGN KEY (user_id) "
        "REFERENCES users (id) ON DELETE CASCADE"
    )
    for statement in INDEXES[:6]:
        op.execute(statement)
    op.execute(OLD_IMMUTABLE)
    op.execute(
        "CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_immutable()"
    )
