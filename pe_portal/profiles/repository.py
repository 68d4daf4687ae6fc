"""SQL for profiles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pe_portal.profiles.models import UserProfile


async def get_for_user(session: AsyncSession, user_id: str) -> UserProfile | None:
    return await session.scalar(select(UserProfile).where(UserProfile.user_id == user_id))


async def add(session: AsyncSession, profile: UserProfile) -> UserProfile:
    session.add(profile)
    await session.flush()
    return profile
