"""Profiles: one per user, created with the account."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.db.base import new_id
from pe_portal.errors import NotFound
from pe_portal.profiles import repository
from pe_portal.profiles.models import UserProfile


async def create_default(session: AsyncSession, *, user_id: str) -> UserProfile:
    """The profile every new account starts with (UTC, English)."""
    profile = UserProfile(id=new_id(), user_id=user_id, timezone="UTC", language="en")
    return await repository.add(session, profile)


async def get(session: AsyncSession, *, user_id: str) -> UserProfile:
    profile = await repository.get_for_user(session, user_id)
    if profile is None:
        raise NotFound("This account has no profile.", code="profile_not_found")
    return profile
