"""Password change (the current password required) and the replacement every password flow
ends with: the new hash stored, the other sessions revoked, the change audited and mailed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import record
from pe_portal.clock import utcnow
from pe_portal.config import Settings
from pe_portal.context import RequestContext
from pe_portal.errors import Forbidden
from pe_portal.security.passwords import (
    admitted,
    check_length,
    check_policy,
    hash_password,
    verify_password,
)
from pe_portal.sessions import service as sessions
from pe_portal.users import notices
from pe_portal.users.models import User


async def change_password(
    session: AsyncSession,
    *,
    user: User,
    session_id: str,
    current_password: str,
    new_password: str,
    context: RequestContext,
    settings: Settings,
) -> int:
    """Replace the password (the current one required); every other session is revoked."""
    check_length(current_password, field="currentPassword")
    async with admitted():  # one turn for the compare and the new hash: never refused between
        if not await verify_password(current_password, user.password):
            raise Forbidden("The current password is not correct.", code="invalid_password")
        check_policy(
            new_password, min_length=settings.password_min_length, email=user.email,
            field="newPassword",
        )  # fmt: skip
        new_hash = await hash_password(new_password)
    return await replace_password(
        session, user=user, new_hash=new_hash, action=AuditAction.PASSWORD_CHANGED,
        context=context, keep_session=session_id,
    )  # fmt: skip


async def replace_password(
    session: AsyncSession,
    *,
    user: User,
    new_hash: str,
    action: AuditAction,
    context: RequestContext,
    keep_session: str | None = None,
) -> int:
    """Store a new hash, revoke every session but `keep_session`, audit `action`, and send the
    "password changed" notice; how many sessions were revoked."""
    user.password = new_hash
    user.updated_at = utcnow()
    revoked = await sessions.revoke_all(session, user_id=user.id, except_session=keep_session)
    await record(
        session,
        action=action,
        resource=AuditResource.AUTH,
        context=context,
        user_id=user.id,
        details={"sessionsRevoked": revoked},
    )
    await notices.password_changed(session, user=user)
    return revoked
