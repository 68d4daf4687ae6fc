"""Profiles: one per user, created with the account, edited by its owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.audit.models import AuditAction, AuditResource
from pe_portal.audit.service import record
from pe_portal.context import RequestContext
from pe_portal.db.base import new_id
from pe_portal.errors import NotFound
from pe_portal.profiles import repository
from pe_portal.profiles.models import UserProfile

EDITABLE = ("phone", "avatar", "timezone", "language", "preferences")


async def create_default(session: AsyncSession, *, user_id: str) -> UserProfile:
    """The profile every new account starts with (UTC, English)."""
    profile = UserProfile(id=new_id(), user_id=user_id, timezone="UTC", language="en")
    return await repository.add(session, profile)


async def find(session: AsyncSession, *, user_id: str) -> UserProfile | None:
    """The user's profile, or None (a mail can still go out without one)."""
    return await repository.get_for_user(session, user_id)


async def get(session: AsyncSession, *, user_id: str) -> UserProfile:
    """The user's profile; NotFound (`profile_not_found`) if it is missing."""
    profile = await repository.get_for_user(session, user_id)
    if profile is None:
        raise NotFound("This account has no profile.", code="profile_not_found")
    return profile


async def update(
    session: AsyncSession, *, user_id: str, changes: Mapping[str, Any], context: RequestContext
) -> UserProfile:
    """Apply already-validated `changes` (field → value, None clears); PROFILE_UPDATED names the
    fields that really changed, never their values (phone and avatar are personal data)."""
    profile = await get(session, user_id=user_id)
    changed = [
        name for name in EDITABLE if name in changes and getattr(profile, name) != changes[name]
    ]
    if not changed:
        return profile
    for name in changed:
        setattr(profile, name, changes[name])
    await session.flush()
    await record(
        session,
        action=AuditAction.PROFILE_UPDATED,
        resource=AuditResource.PROFILE,
        context=context,
        user_id=user_id,
        details={"fields": [to_camel(name) for name in changed]},
    )
    return profile
