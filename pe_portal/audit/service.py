"""Recording into the audit trail. Every feature may call `record`; audit imports no feature."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit import repository
from pe_portal.audit.models import AuditAction, AuditLog, AuditResource
from pe_portal.clock import utcnow
from pe_portal.db.base import new_id


@dataclass(frozen=True)
class RequestContext:
    """Who caused an event and from where: the client IP and user agent of the request or CLI."""

    ip_address: str | None = None
    user_agent: str | None = None
    actor: str | None = None  # an operator's name when the event comes from the CLI or studio


SYSTEM = RequestContext(actor="system")


def email_digest(email: str) -> str:
    """A stable digest of a normalised e-mail: lets rows refer to an address without holding it."""
    return hashlib.sha256(email.encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    action: AuditAction,
    resource: AuditResource | None,
    context: RequestContext,
    user_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row to the caller's transaction (it commits with the change it records)."""
    payload = dict(details or {})
    if context.actor is not None:
        payload.setdefault("actor", context.actor)
    entry = AuditLog(
        id=new_id(),
        user_id=user_id,
        action=action.value,
        resource=resource.value if resource else None,
        details=payload or None,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
        created_at=utcnow(),
    )
    return await repository.add(session, entry)
