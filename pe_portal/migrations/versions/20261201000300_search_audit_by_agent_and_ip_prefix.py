"""audit search by distinct user agent and IP prefix: audit_user_agents, a hash index on
user_agent and a prefix index on ip_address in place of the two trigram indexes

A trigram index answers a fragment of a user agent by every row holding its trigrams: the
trail's agents are a few hundred strings repeated millions of times, so a fragment whose
trigrams are common (`Safari/605`) names millions of rows to recheck, even when none matches.
The distinct agents are searched instead (a small table, filled by a trigger on insert) and
their rows fetched by equality (a hash index: an agent can be longer than a btree entry allows).
An IP is searched by its start (a network, a whole address): a prefix index.

Revision ID: 20261201000300
Revises: 20261201000200
Create Date: 2026-12-01 00:03:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261201000300"
down_revision: str | None = "20261201000200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGENTS = (
    # md5: a key of any agent's length (the digest only tells agents apart, it guards nothing).
    "CREATE TABLE audit_user_agents (digest TEXT NOT NULL, user_agent TEXT NOT NULL, "
    "CONSTRAINT audit_user_agents_pkey PRIMARY KEY (digest))",
    "CREATE INDEX idx_audit_user_agents_trgm ON audit_user_agents "
    "USING gin (user_agent gin_trgm_ops)",
)

# SECURITY DEFINER: the app role writes this table only through the trigger.
RECORD_AGENT = """
CREATE FUNCTION audit_logs_record_agent() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO audit_user_agents (digest, user_agent)
    VALUES (md5(NEW.user_agent), NEW.user_agent) ON CONFLICT (digest) DO NOTHING;
    RETURN NULL;
END $$
"""

NEW_INDEXES = (
    "CREATE INDEX idx_audit_logs_agent ON audit_logs USING hash (user_agent)",
    "CREATE INDEX idx_audit_logs_ip_prefix ON audit_logs (ip_address text_pattern_ops)",
)
OLD_INDEXES = (
    "CREATE INDEX idx_audit_logs_ip_trgm ON audit_logs USING gin (ip_address gin_trgm_ops)",
    "CREATE INDEX idx_audit_logs_agent_trgm ON audit_logs USING gin (user_agent gin_trgm_ops)",
)

# The partitions' indexes take the parent's name with the partition's suffix (plans name them).
NAME_PARTITION_INDEXES = (
    "SELECT audit_name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
    "WHERE inhparent = 'audit_logs'::regclass"
)


def upgrade() -> None:
    for statement in AGENTS:
        op.execute(statement)
    op.execute(
        "INSERT INTO audit_user_agents (digest, user_agent) SELECT DISTINCT md5(user_agent), "
        "user_agent FROM audit_logs WHERE user_agent IS NOT NULL"
    )
    op.execute(RECORD_AGENT)
    op.execute(
        "CREATE TRIGGER audit_logs_record_agent AFTER INSERT ON audit_logs FOR EACH ROW "
        "WHEN (NEW.user_agent IS NOT NULL) EXECUTE FUNCTION audit_logs_record_agent()"
    )
    op.execute("DROP INDEX idx_audit_logs_ip_trgm, idx_audit_logs_agent_trgm")
    for statement in NEW_INDEXES:
        op.execute(statement)
    op.execute(NAME_PARTITION_INDEXES)


def downgrade() -> None:
    op.execute("DROP INDEX idx_audit_logs_agent, idx_audit_logs_ip_prefix")
    for statement in OLD_INDEXES:
        op.execute(statement)
    op.execute(NAME_PARTITION_INDEXES)
    op.execute("DROP TRIGGER audit_logs_record_agent ON audit_logs")
    op.execute("DROP FUNCTION audit_logs_record_agent()")
    op.execute("DROP TABLE audit_user_agents")
