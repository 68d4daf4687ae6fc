"""Least privilege: what the application's role may do (DESIGN 8).

Migrations run as the owner role; the app connects as a lesser role with no UPDATE, DELETE or
TRUNCATE on `audit_logs`. Applied after every deploy and every restore, idempotently.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON users, user_profiles, sessions TO {role}",
    "REVOKE ALL ON audit_logs FROM {role}",
    "GRANT SELECT, INSERT ON audit_logs TO {role}",
    # Sealing (the server's scheduler): it takes queued rows and appends checkpoints; the removal
    # trace and the queue are written by SECURITY DEFINER triggers. Partitions are reached only
    # through the parent, so the role holds no right on any partition, present or future.
    "REVOKE ALL ON audit_checkpoints, audit_removals, audit_unsealed, audit_user_agents"
    " FROM {role}",
    "GRANT SELECT, INSERT ON audit_checkpoints TO {role}",
    "GRANT SELECT ON audit_removals TO {role}",
    "GRANT SELECT ON audit_logs_default TO {role}",  # verify looks for months without partition
    "GRANT SELECT, DELETE ON audit_unsealed TO {role}",
    "GRANT SELECT ON audit_user_agents TO {role}",  # the search's distinct agents
    "GRANT EXECUTE ON FUNCTION audit_ensure_partition(date) TO {role}",
    "GRANT SELECT ON alembic_version TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON auth_rate_limits TO {role}",
    # The request inserts; the same role's delivery worker claims, updates and prunes.
    "GRANT SELECT, INSERT, UPDATE, DELETE ON mail_outbox TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_factors, mfa_recovery_codes, mfa_challenges"
    " TO {role}",
)


async def apply_grants(connection: AsyncConnection, role: str) -> bool:
    """Grant `role` its rights; False when the role does not exist or is the owner itself."""
    exists = await connection.scalar(
        text("SELECT rolname <> current_user FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    )
    if not exists:
        return False
    for grant in _GRANTS:
        # `role` matches ^[a-z_][a-z0-9_]*$ (validated in Settings), so formatting is safe.
        await connection.execute(text(grant.format(role=role)))
    return True
